//! The authorization server's pages (sign in, consent, refusal): server-rendered HTML, small
//! and self-contained (no script, inline style only), every value escaped.

use std::fmt::Write;

use entity::partner_app;

use crate::domain::scope::ScopeSet;
use crate::oauth::authorize::AuthorizeParams;

/// The portal's scope vocabulary and plain words, one source for both.
#[allow(dead_code)]
mod portal_scopes {
    include!("../../../portal/src/scopes.rs");
}

pub fn escape(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            c => out.push(c),
        }
    }
    out
}

const STYLE: &str = "body{font-family:system-ui,sans-serif;background:#f4f6f8;color:#1b2430;margin:0}\
main{max-width:34rem;margin:3rem auto;background:#fff;border-radius:8px;padding:2rem;box-shadow:0 1px 3px #0002}\
h1{font-size:1.4rem;margin-top:0}label{display:block;margin:.8rem 0 .2rem;font-weight:600}\
input[type=email],input[type=password]{width:100%;padding:.5rem;box-sizing:border-box;border:1px solid #8a94a0;border-radius:4px}\
fieldset{border:1px solid #d0d6dc;border-radius:6px;margin:1rem 0;padding:.5rem 1rem}\
fieldset label{font-weight:400;display:flex;gap:.5rem;align-items:flex-start}\
.scope{font-family:monospace;font-size:.85em;color:#4a5562}\
.actions{display:flex;gap:1rem;margin-top:1.5rem}button{padding:.6rem 1.2rem;border-radius:4px;border:1px solid #1f5fa8;font-size:1rem}\
.primary{background:#1f5fa8;color:#fff}.secondary{background:#fff;color:#1f5fa8}\
.error{background:#fdecea;border:1px solid #b3261e;color:#8c1d18;padding:.6rem;border-radius:4px}\
.env{display:inline-block;padding:.1rem .5rem;border-radius:4px;background:#e8eef5;font-size:.85em}";

fn page(title: &str, body: &str) -> String {
    format!(
        "<!doctype html><html lang=\"en\"><head><meta charset=\"utf-8\">\
         <meta name=\"viewport\" content=\"width=device-width,initial-scale=1\">\
         <title>{} · Switchboard</title><style>{STYLE}</style></head>\
         <body><main>{body}</main></body></html>",
        escape(title)
    )
}

fn hidden(out: &mut String, name: &str, value: Option<&str>) {
    if let Some(value) = value {
        let _ = write!(
            out,
            "<input type=\"hidden\" name=\"{name}\" value=\"{}\">",
            escape(value)
        );
    }
}

/// Why a request cannot go on, shown instead of redirecting anywhere.
pub fn refusal(message: &str) -> String {
    page(
        "Authorization refused",
        &format!(
            "<h1 id=\"page-heading\">This authorization request cannot go on</h1>\
             <p class=\"error\" role=\"alert\">{}</p>\
             <p>Close this window and tell the application's vendor.</p>",
            escape(message)
        ),
    )
}

/// The sign-in form, carrying the authorization request on.
pub fn sign_in(app: &partner_app::Model, params: &AuthorizeParams, error: Option<&str>) -> String {
    let mut body = format!(
        "<h1 id=\"page-heading\">Sign in to authorize {}</h1>\
         <p>Sign in with your Switchboard portal account to review what this application asks for.</p>",
        escape(&app.name)
    );
    if let Some(error) = error {
        let _ = write!(
            body,
            "<p class=\"error\" role=\"alert\">{}</p>",
            escape(error)
        );
    }
    body.push_str("<form method=\"post\" action=\"/oauth/authorize\">");
    hidden(&mut body, "action", Some("sign_in"));
    hidden(&mut body, "response_type", params.response_type.as_deref());
    hidden(&mut body, "client_id", params.client_id.as_deref());
    hidden(&mut body, "redirect_uri", params.redirect_uri.as_deref());
    hidden(&mut body, "scope", params.scope.as_deref());
    hidden(&mut body, "state", params.state.as_deref());
    hidden(
        &mut body,
        "code_challenge",
        params.code_challenge.as_deref(),
    );
    hidden(
        &mut body,
        "code_challenge_method",
        params.code_challenge_method.as_deref(),
    );
    body.push_str(
        "<label for=\"email\">Email</label>\
         <input id=\"email\" name=\"email\" type=\"email\" autocomplete=\"username\" required>\
         <label for=\"password\">Password</label>\
         <input id=\"password\" name=\"password\" type=\"password\" autocomplete=\"current-password\" required>\
         <div class=\"actions\"><button class=\"primary\" type=\"submit\">Sign in</button></div></form>",
    );
    page("Sign in", &body)
}

fn help(scope: &str) -> &'static str {
    portal_scopes::SCOPE_HELP
        .iter()
        .find(|(s, _)| *s == scope)
        .map_or("", |(_, h)| h)
}

fn checklist(out: &mut String, legend: &str, group: &[&str], asked: &ScopeSet) {
    let names: Vec<&str> = group
        .iter()
        .copied()
        .filter(|s| asked.iter().any(|a| a.as_str() == *s))
        .collect();
    if names.is_empty() {
        return;
    }
    let _ = write!(out, "<fieldset><legend>{legend}</legend>");
    for (i, name) in names.iter().enumerate() {
        let id = format!(
            "{}-{i}",
            legend.split(' ').next().unwrap_or("s").to_lowercase()
        );
        let _ = write!(
            out,
            "<label for=\"{id}\"><input id=\"{id}\" type=\"checkbox\" name=\"grant\" value=\"{name}\" checked>\
             <span>{} <span class=\"scope\">{name}</span></span></label>",
            escape(help(name))
        );
    }
    out.push_str("</fieldset>");
}

/// The consent form: what the application asks for, each item untickable, and approve or
/// deny. `consent` is the signed token that carries the request.
pub fn consent(app: &partner_app::Model, user: &str, asked: &ScopeSet, consent: &str) -> String {
    let mut body = format!(
        "<h1 id=\"page-heading\">Authorize {}?</h1>\
         <p><strong>{}</strong> ({}) asks to reach this clinic's data through Switchboard, \
         acting for you, <strong>{}</strong>. <span class=\"env\">{}</span></p>",
        escape(&app.name),
        escape(&app.name),
        escape(&app.category.to_lowercase()),
        escape(user),
        escape(&app.environment.to_lowercase()),
    );
    if let Some(home) = &app.homepage {
        let _ = write!(body, "<p>Vendor's site: {}</p>", escape(home));
    }
    if !app.description.is_empty() {
        let _ = write!(body, "<p>{}</p>", escape(&app.description));
    }
    body.push_str(
        "<form method=\"post\" action=\"/oauth/authorize\">\
         <p>Untick anything you do not want to allow.</p>",
    );
    hidden(&mut body, "consent", Some(consent));
    checklist(
        &mut body,
        "Permissions",
        portal_scopes::PERMISSION_SCOPES,
        asked,
    );
    checklist(
        &mut body,
        "Data categories",
        portal_scopes::CATEGORY_SCOPES,
        asked,
    );
    body.push_str(
        "<div class=\"actions\">\
         <button class=\"primary\" type=\"submit\" name=\"action\" value=\"approve\">Approve</button>\
         <button class=\"secondary\" type=\"submit\" name=\"action\" value=\"deny\">Deny</button>\
         </div></form>",
    );
    page(&format!("Authorize {}", app.name), &body)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn text_is_escaped() {
        assert_eq!(
            escape("<script>\"x\" & 'y'</script>"),
            "&lt;script&gt;&quot;x&quot; &amp; &#39;y&#39;&lt;/script&gt;"
        );
    }
}
