//! Who may read the pages: the same tokens as the gRPC service, through
//! [`Access::admit`](crate::access::Access::admit) with the reader role.
//! A reader enters a token once in a form; it is kept in an HttpOnly,
//! SameSite=Strict cookie and checked on every request. With no tokens
//! configured access is open, as for gRPC; with tokens, pages answer 401
//! without one unless `http_anonymous` is set. The login form writes
//! nothing to the log: it only sets the cookie.

use axum::{
    Form,
    extract::State,
    http::{HeaderMap, HeaderValue, StatusCode, header},
    response::{Html, IntoResponse, Redirect, Response},
};
use maud::html;
use serde::Deserialize;

use super::{Web, WebError};
use crate::{access::Role, error::Error};

/// The cookie that holds the reader's token.
const COOKIE: &str = "truce_token";

/// The token in the request's cookie, if any.
fn cookie_token(headers: &HeaderMap) -> Option<String> {
    headers
        .get_all(header::COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(';'))
        .filter_map(|pair| pair.trim().split_once('='))
        .find(|(name, _)| *name == COOKIE)
        .and_then(|(_, value)| urlencoding::decode(value).ok().map(|v| v.into_owned()))
        .filter(|v| !v.is_empty())
}

/// Admits a page request for `method` (the gRPC method the page reads
/// with, for the log and the rate buckets).
pub(crate) fn admit(web: &Web, headers: &HeaderMap, method: &str) -> Result<(), WebError> {
    if web.access.is_open() {
        return Ok(());
    }
    let Some(token) = cookie_token(headers) else {
        if web.anonymous {
            return Ok(());
        }
        return Err(WebError::Unauthorized(
            "a reader token is required to read these pages".into(),
        ));
    };
    check(web, &token, method)
}

fn check(web: &Web, token: &str, method: &str) -> Result<(), WebError> {
    let bearer = HeaderValue::from_str(&format!("Bearer {token}"))
        .map_err(|_| WebError::Unauthorized("the token is not ASCII".into()))?;
    let path = format!("/truce.v1.Truce/{method}");
    match web.access.admit(Some(&bearer), &path, Role::Reader) {
        Ok(_) => Ok(()),
        Err(Error::PermissionDenied(m)) => Err(WebError::Forbidden(m)),
        Err(Error::Unauthenticated(m)) => Err(WebError::Unauthorized(m)),
        Err(e) => Err(WebError::Read(tonic::Status::from(e))),
    }
}

/// The token form as a whole page (the answer to an unauthorized request).
pub(crate) fn form_page(message: &str, next: &str) -> String {
    super::layout::bare_page(
        "Reader token",
        html! {
            h1 { "Reader token" }
            @if !message.is_empty() { p.notice role="alert" { (message) } }
            form method="post" action="/login" {
                label for="token" { "Token (reader or above)" }
                input #token type="password" name="token" autocomplete="off" required;
                input type="hidden" name="next" value=(next);
                button type="submit" { "Read" }
            }
            p { "The token is kept in a cookie that scripts cannot read and that is sent to this site only." }
        },
    )
}

pub(crate) async fn login_form() -> Html<String> {
    Html(form_page("", "/"))
}

#[derive(Debug, Deserialize)]
pub(crate) struct LoginForm {
    token: String,
    #[serde(default)]
    next: String,
}

/// Checks the token and keeps it in the cookie; back to the page asked for.
pub(crate) async fn login(State(web): State<Web>, Form(form): Form<LoginForm>) -> Response {
    let next = local_path(&form.next);
    let token = form.token.trim();
    if let Err(e) = check(&web, token, "GetCheckpoint") {
        let status = match e {
            WebError::Forbidden(_) => StatusCode::FORBIDDEN,
            _ => StatusCode::UNAUTHORIZED,
        };
        return (status, Html(form_page(&e.to_string(), next))).into_response();
    }
    let cookie = format!(
        "{COOKIE}={}; Path=/; HttpOnly; SameSite=Strict",
        urlencoding::encode(token)
    );
    let mut response = Redirect::to(next).into_response();
    if let Ok(value) = HeaderValue::from_str(&cookie) {
        response.headers_mut().insert(header::SET_COOKIE, value);
    }
    response
}

/// Forgets the token.
pub(crate) async fn logout() -> Response {
    let mut response = Redirect::to("/login").into_response();
    response.headers_mut().insert(
        header::SET_COOKIE,
        HeaderValue::from_static("truce_token=; Path=/; HttpOnly; SameSite=Strict; Max-Age=0"),
    );
    response
}

/// A path on this site to go back to (anything else: the home page).
fn local_path(next: &str) -> &str {
    if next.starts_with('/') && !next.starts_with("//") && !next.contains('\\') {
        next
    } else {
        "/"
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_local_paths_are_followed_after_login() {
        assert_eq!(local_path("/reports?agreement=a"), "/reports?agreement=a");
        assert_eq!(local_path("//evil.example"), "/");
        assert_eq!(local_path("https://evil.example"), "/");
    }

    #[test]
    fn the_token_is_read_from_its_cookie() {
        let mut headers = HeaderMap::new();
        headers.insert(
            header::COOKIE,
            HeaderValue::from_static("a=b; truce_token=abc%2Bd; c=d"),
        );
        assert_eq!(cookie_token(&headers).as_deref(), Some("abc+d"));
        assert_eq!(cookie_token(&HeaderMap::new()), None);
    }
}
