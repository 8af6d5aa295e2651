//! Health: a tile per connection with its status, last success, error rate, response times
//! and uptime, and a chart of its last 24 hours (error rate as bars, average latency as a
//! line), drawn as SVG from `healthHistory`, with the same figures as a table beside it for
//! screen readers.

use leptos::prelude::*;

use super::services::{status_words, type_words};
use super::{NavLink, PageHeading, send, utc};
use crate::api::name_of;
use crate::queries::{ServiceConnections, service_connections};

type Connection = service_connections::ServiceConnectionsServiceConnections;
type Bucket = service_connections::ServiceConnectionsServiceConnectionsHealthHistory;

const HOURS: i64 = 24;

fn percent(share: Option<f64>) -> String {
    share.map_or_else(|| "—".into(), |s| format!("{:.1}%", s * 100.0))
}

fn millis(ms: Option<f64>) -> String {
    ms.map_or_else(|| "—".into(), |m| format!("{m:.0} ms"))
}

#[component]
pub fn ServiceHealth() -> impl IntoView {
    let (data, set_data) = signal(None::<Vec<Connection>>);
    let (message, set_message) = signal(None::<String>);
    let (busy, set_busy) = signal(false);
    let load = move || {
        send::<ServiceConnections>(
            service_connections::Variables {
                hours: HOURS,
                buckets: 24,
            },
            set_message,
            Some(set_busy),
            move |d| set_data.set(Some(d.service_connections.unwrap_or_default())),
        )
    };
    load();
    let tiles = move || {
        data.get()
            .unwrap_or_default()
            .into_iter()
            .map(|c| view! { <HealthTile connection=c/> })
            .collect_view()
    };
    view! {
        <p><NavLink href="/settings/services">"‹ External Services"</NavLink></p>
        <PageHeading title="Health"/>
        <p class="muted">"Each connection's status comes from its exchanges and periodic checks. Down: its newest 3 exchanges failed. Degraded: in the last hour at least 10% failed, or the slowest 5% took more than half its timeout."</p>
        <p><button id="health-refresh" on:click=move |_| load() prop:disabled=busy>"Refresh"</button></p>
        <Show when=move || message.get().is_some()>
            <p class="error" role="alert" id="health-message">{move || message.get()}</p>
        </Show>
        <Show when=move || data.get().is_some() fallback=|| view! { <p class="muted">"Loading…"</p> }>
            <Show when=move || data.get().is_some_and(|d| !d.is_empty())
                fallback=|| view! { <p class="muted" id="no-health">"No connections yet."</p> }>
                <div class="tiles" id="health-tiles">{tiles}</div>
            </Show>
        </Show>
    }
}

#[component]
fn HealthTile(connection: Connection) -> impl IntoView {
    let h = &connection.health;
    let status = name_of(&h.status);
    let heading = format!("health-{}", connection.id);
    let figures = [
        ("Last success", utc(h.last_success_at.as_deref(), false)),
        ("Exchanges (24 h)", h.exchanges24h.to_string()),
        ("Error rate (24 h)", percent(h.error_rate24h)),
        ("Average response (24 h)", millis(h.average_latency_ms24h)),
        (
            "95th percentile (24 h)",
            millis(h.p95_latency_ms24h.map(|p| p as f64)),
        ),
        ("Uptime (24 h)", percent(h.uptime24h)),
        ("Uptime (7 days)", percent(h.uptime7d)),
    ]
    .into_iter()
    .map(|(term, value)| view! { <dt>{term}</dt><dd>{value}</dd> })
    .collect_view();
    let (labelled, row_name, row_status) =
        (heading.clone(), connection.name.clone(), status.clone());
    view! {
        <section class="card tile" aria-labelledby=labelled data-connection=row_name
            data-status=row_status>
            <h2 id=heading>{connection.name.clone()}</h2>
            <p class="muted">{type_words(&name_of(&connection.service_type))}</p>
            <p class=format!("status status-{}", status.to_lowercase())>{status_words(&status)}</p>
            <dl class="figures">{figures}</dl>
            <Chart name=connection.name.clone() buckets=connection.health_history.clone()/>
        </section>
    }
}

/// The last 24 hours: a bar per span for its error rate (against the left scale, 0 to 100%),
/// and a line through each span's average latency (against the right scale, 0 to the
/// slowest).
#[component]
fn Chart(name: String, buckets: Vec<Bucket>) -> impl IntoView {
    const W: f64 = 480.0;
    const H: f64 = 140.0;
    const LEFT: f64 = 40.0;
    const RIGHT: f64 = 56.0;
    let n = buckets.len().max(1) as f64;
    let plot = W - LEFT - RIGHT;
    let slot = plot / n;
    let slowest = buckets
        .iter()
        .filter_map(|b| b.average_latency_ms)
        .fold(0.0_f64, f64::max)
        .max(1.0);
    let bars = buckets
        .iter()
        .enumerate()
        .filter(|(_, b)| b.failures > 0)
        .map(|(i, b)| {
            let rate = b.failures as f64 / b.exchanges.max(1) as f64;
            let height = rate * H;
            view! {
                <rect class="error-bar" x=format!("{:.1}", LEFT + slot * i as f64 + 1.0)
                    y=format!("{:.1}", H - height) width=format!("{:.1}", (slot - 2.0).max(1.0))
                    height=format!("{height:.1}")/>
            }
        })
        .collect_view();
    let points: Vec<String> = buckets
        .iter()
        .enumerate()
        .filter_map(|(i, b)| {
            b.average_latency_ms.map(|l| {
                format!(
                    "{:.1},{:.1}",
                    LEFT + slot * (i as f64 + 0.5),
                    H - l / slowest * H
                )
            })
        })
        .collect();
    let dots = points
        .iter()
        .map(|p| {
            let (x, y) = p.split_once(',').unwrap_or(("0", "0"));
            view! { <circle class="latency-dot" cx=x.to_owned() cy=y.to_owned() r="2.5"/> }
        })
        .collect_view();
    let exchanges: i64 = buckets.iter().map(|b| b.exchanges).sum();
    let failures: i64 = buckets.iter().map(|b| b.failures).sum();
    let description = format!(
        "{name} over the last {HOURS} hours: {exchanges} exchanges, {failures} failed; slowest average response {slowest:.0} ms."
    );
    let rows = buckets
        .iter()
        .filter(|b| b.exchanges > 0)
        .map(|b| {
            view! {
                <tr>
                    <td>{utc(Some(&b.start), false)}</td>
                    <td>{b.exchanges}</td>
                    <td>{b.failures}</td>
                    <td>{millis(b.average_latency_ms)}</td>
                </tr>
            }
        })
        .collect_view();
    let first = buckets.first().map(|b| utc(Some(&b.start), false));
    view! {
        <figure class="chart">
            <svg viewBox=format!("0 0 {W} {}", H + 20.0) role="img" class="health-chart" aria-label=description.clone()>
                <title>{description.clone()}</title>
                <line class="axis" x1=LEFT y1="0" x2=LEFT y2=H/>
                <line class="axis" x1=LEFT y1=H x2=W - RIGHT y2=H/>
                <line class="axis" x1=W - RIGHT y1="0" x2=W - RIGHT y2=H/>
                <text class="scale" x=LEFT - 4.0 y="10" text-anchor="end">"100%"</text>
                <text class="scale" x=LEFT - 4.0 y=H text-anchor="end">"0%"</text>
                <text class="scale" x=W - RIGHT + 4.0 y="10">{format!("{slowest:.0} ms")}</text>
                <text class="scale" x=W - RIGHT + 4.0 y=H>"0 ms"</text>
                <text class="scale" x=LEFT y=H + 16.0>{first.unwrap_or_default()}</text>
                <text class="scale" x=W - RIGHT y=H + 16.0 text-anchor="end">"now"</text>
                {bars}
                <polyline class="latency-line" points=points.join(" ")/>
                {dots}
            </svg>
            <figcaption>
                <span class="legend error-key">"■ error rate"</span>" "
                <span class="legend latency-key">"● average response time"</span>
            </figcaption>
            <details>
                <summary>"The figures"</summary>
                <table class="chart-data">
                    <thead><tr><th scope="col">"From"</th><th scope="col">"Exchanges"</th><th scope="col">"Failed"</th><th scope="col">"Average"</th></tr></thead>
                    <tbody>{rows}</tbody>
                </table>
            </details>
        </figure>
    }
}
