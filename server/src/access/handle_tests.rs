//! The restricted handles (`patients`, `lab_tests`, `admin`) on a real in-memory store: each
//! checks the caller's scopes itself and reads and writes only within the caller's rows,
//! whatever the resolver above it asks.

use std::sync::Arc;
use std::time::Duration;

use uuid::Uuid;

use super::login_throttle::{LoginThrottle, Policy};
use super::patients::CreatePatient;
use super::principal::{Actor, Grant, Principal};
use super::{Access, Services};
use crate::audit::AuditSink;
use crate::domain::environment::Environment;
use crate::domain::patient::PatientWrite;
use crate::domain::role::Role;
use crate::domain::row_scope::RowScope;
use crate::domain::scope::Scope::{self, *};
use crate::store::Store;
use crate::store::clients::{insert_client, insert_location};
use crate::store::columns::Columns;
use crate::store::page::PageRequest;
use crate::store::patients::PatientFilter;

struct World {
    services: Services,
    /// Two sandbox clients, one location each.
    a: (Uuid, Uuid),
    b: (Uuid, Uuid),
}

async fn world() -> World {
    let store = Store::connect("sqlite::memory:", Some(1)).await.unwrap();
    store.migrate().await.unwrap();
    let db = store.conn();
    let mut sites = Vec::new();
    for name in ["A", "B"] {
        let client = insert_client(db, name, Environment::Sandbox).await.unwrap();
        let location = insert_location(db, client.id, name).await.unwrap();
        sites.push((client.id, location.id));
    }
    let (sink, _) = AuditSink::spawn(store.clone());
    World {
        services: Services {
            store: store.clone(),
            sink,
            keys: Default::default(),
            session_ttl: chrono::Duration::minutes(5),
            security: Default::default(),
            logins: Arc::new(LoginThrottle::new(Policy {
                per_account: 5,
                per_address: 20,
                first_lock: Duration::from_secs(30),
            })),
            oauth: Arc::new(crate::oauth::OAuth::new(
                &crate::config::Settings::defaults().unwrap().oauth,
                "http://127.0.0.1",
                store.clone(),
            )),
            webhooks: crate::webhooks::Webhooks::new(
                &crate::config::Settings::defaults().unwrap().webhooks,
            )
            .unwrap(),
            reach: Default::default(),
            poll_lease: Duration::from_secs(60),
            protection: Default::default(),
        },
        a: sites[0],
        b: sites[1],
    }
}

impl World {
    fn key(&self, scopes: &[Scope], clients: Option<Vec<Uuid>>) -> Access {
        let principal = Principal {
            actor: Actor::ApiKey {
                id: Uuid::now_v7(),
                name: "handle test".into(),
            },
            grant: Grant {
                scopes: scopes.iter().copied().collect(),
                rows: RowScope {
                    clients,
                    locations: None,
                    environment: Some(Environment::Sandbox),
                    clients_in_environment: false,
                },
                ..Grant::default()
            },
        };
        Access::new(principal, self.services.clone(), None)
    }

    fn admin(&self, role: Role) -> Access {
        let principal = Principal {
            actor: Actor::Admin {
                id: Uuid::now_v7(),
                email: "admin@example.org".into(),
                role,
                session_id: Uuid::now_v7(),
            },
            grant: Grant::everything(),
        };
        Access::new(principal, self.services.clone(), None)
    }

    async fn patient(&self, (client_id, location_id): (Uuid, Uuid), name: &str) -> Uuid {
        let writer = self.key(&[PatientsCreate, DemographicsWrite], None);
        let write = PatientWrite {
            first_name: Some(Some(name.into())),
            ..Default::default()
        };
        let (patient, _) = writer
            .patients()
            .create(CreatePatient {
                client_id,
                location_id,
                write,
            })
            .await
            .map_err(|e| e.message())
            .unwrap();
        patient.id
    }
}

fn code<T>(result: crate::error::AppResult<T>) -> &'static str {
    result.err().map_or("OK", |e| e.code())
}

#[tokio::test]
async fn a_handle_reads_only_the_callers_rows() {
    let w = world().await;
    let in_a = w.patient(w.a, "Ada").await;
    let in_b = w.patient(w.b, "Bea").await;
    let only_a = w.key(&[PatientsRead], Some(vec![w.a.0]));
    let patients = only_a.patients();
    assert!(
        patients
            .get(in_a)
            .await
            .map_err(|e| e.message())
            .unwrap()
            .is_some()
    );
    assert!(
        patients
            .get(in_b)
            .await
            .map_err(|e| e.message())
            .unwrap()
            .is_none(),
        "another client's patient is not there for this key"
    );
    let page = PageRequest {
        first: 10,
        after: None,
    };
    let listed = patients
        .list(&PatientFilter::default(), page, Columns::all())
        .await
        .map_err(|e| e.message())
        .unwrap();
    let ids: Vec<Uuid> = listed.items.iter().map(|p| p.id()).collect();
    assert_eq!(ids, vec![in_a]);
    let many = patients
        .get_many(&[in_a, in_b], Columns::all())
        .await
        .map_err(|e| e.message())
        .unwrap();
    assert_eq!(many.len(), 1);
    assert_eq!(
        patients
            .count(&PatientFilter::default())
            .await
            .map_err(|e| e.message())
            .unwrap(),
        1
    );
}

#[tokio::test]
async fn a_handle_checks_scopes_before_it_reads_or_writes() {
    let w = world().await;
    let id = w.patient(w.a, "Ada").await;
    let tests_only = w.key(&[TestsRead], None);
    assert_eq!(code(tests_only.patients().get(id).await), "FORBIDDEN");
    // A name filter reads names: it needs the demographics scope too.
    let reader = w.key(&[PatientsRead], None);
    let by_name = PatientFilter {
        name: Some("ad".into()),
        ..Default::default()
    };
    assert_eq!(code(reader.patients().count(&by_name).await), "FORBIDDEN");
    // Writing a category needs its write scope, checked before anything is stored.
    let no_contact = w.key(&[PatientsCreate], None);
    let with_email = CreatePatient {
        client_id: w.a.0,
        location_id: w.a.1,
        write: PatientWrite {
            email: Some(Some("a@example.org".into())),
            ..Default::default()
        },
    };
    assert_eq!(
        code(no_contact.patients().create(with_email).await),
        "FORBIDDEN"
    );
    assert_eq!(
        code(reader.patients().count(&PatientFilter::default()).await),
        "OK"
    );
    assert_eq!(
        reader
            .patients()
            .count(&PatientFilter::default())
            .await
            .map_err(|e| e.message())
            .unwrap(),
        1,
        "the refused create stored nothing"
    );
}

#[tokio::test]
async fn creates_outside_the_callers_clients_are_answered_like_missing_ones() {
    let w = world().await;
    let only_a = w.key(&[PatientsCreate], Some(vec![w.a.0]));
    let elsewhere = CreatePatient {
        client_id: w.b.0,
        location_id: w.b.1,
        write: PatientWrite::default(),
    };
    let refused = only_a.patients().create(elsewhere).await.err().unwrap();
    let missing = only_a
        .patients()
        .create(CreatePatient {
            client_id: Uuid::now_v7(),
            location_id: Uuid::now_v7(),
            write: PatientWrite::default(),
        })
        .await
        .err()
        .unwrap();
    assert_eq!(refused.code(), "VALIDATION_FAILED");
    assert_eq!(refused.message(), missing.message());
}

#[tokio::test]
async fn settings_are_for_administrators_only() {
    let w = world().await;
    let every_scope = w.key(&Scope::ALL, None);
    assert_eq!(code(every_scope.admin().keys(true).await), "FORBIDDEN");
    assert_eq!(
        code(w.admin(Role::Staff).admin().keys(true).await),
        "FORBIDDEN"
    );
    assert_eq!(
        code(w.admin(Role::TechnicalLead).admin().keys(true).await),
        "OK"
    );
    assert_eq!(
        code(every_scope.sessions().logout().await),
        "FORBIDDEN",
        "only a portal session can log out"
    );
}
