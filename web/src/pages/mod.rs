//! The page handlers, by area, and what they share: the layout every page extends, reading the
//! views live or at a past moment, and the error page.

pub mod admin;
pub mod audit;
pub mod cluster;
pub mod cron;
pub mod events;
pub mod jobs;
pub mod updates;

use std::sync::Arc;

use askama::Template;
use aurora_events::Seq;
use aurora_projections::{Queries, Views};
use axum::http::{StatusCode, header};
use axum::response::{Html, IntoResponse, Response};

use crate::WebState;
use crate::format;
use crate::moment::{self, AtQuery, Banner, Requested};

/// What the base template needs: the cluster, the page title, the navigation section, and the
/// moment shown.
#[derive(Debug, Clone)]
pub struct Layout {
    pub cluster: String,
    pub title: String,
    /// Which navigation entry is current.
    pub section: &'static str,
    pub banner: Option<Banner>,
    /// `?at=<seq>` on a past page, empty on a live one: appended to every link so that
    /// navigating stays at the same moment.
    pub at: String,
    /// In a replicated cluster: which replica served the page and how far behind the leader.
    pub served_by: Option<String>,
    /// The scheduler's standing warning (see [`WebState::warning`]).
    pub warning: Option<String>,
}

/// The moment a page was read at.
#[derive(Debug, Clone)]
pub struct Moment {
    pub banner: Option<Banner>,
    pub at: String,
}

impl Moment {
    pub fn is_live(&self) -> bool {
        self.banner.is_none()
    }

    /// `""` live, ` as of seq N` in the past: for messages about what was (not) there.
    pub fn when(&self) -> String {
        self.banner
            .as_ref()
            .map(|b| format!(" as of seq {}", b.seq))
            .unwrap_or_default()
    }

    pub fn layout(&self, state: &WebState, title: String, section: &'static str) -> Layout {
        Layout {
            cluster: state.cluster.clone(),
            title,
            section,
            banner: self.banner.clone(),
            at: self.at.clone(),
            served_by: state.read.served_by(),
            warning: state.warning.clone(),
        }
    }
}

/// A page that could not be served: its status and a message naming what was wrong.
#[derive(Debug)]
pub struct PageError {
    pub status: StatusCode,
    pub message: String,
    /// The moment asked for, so that a page missing in the past still offers the steps
    /// forward and back (to when the job existed, say).
    pub banner: Option<Box<Banner>>,
    /// A page that has what was asked for (href, text), e.g. a pruned update before it was
    /// pruned.
    pub link: Option<(String, String)>,
}

impl PageError {
    pub fn not_found(message: impl Into<String>) -> Self {
        Self {
            status: StatusCode::NOT_FOUND,
            message: message.into(),
            banner: None,
            link: None,
        }
    }

    pub fn bad_request(message: impl Into<String>) -> Self {
        Self {
            status: StatusCode::BAD_REQUEST,
            message: message.into(),
            banner: None,
            link: None,
        }
    }

    /// The error happened while showing `moment`.
    pub fn during(mut self, moment: &Moment) -> Self {
        self.banner = moment.banner.clone().map(Box::new);
        self
    }

    /// Offers a link to where what was asked for can be seen.
    pub fn with_link(mut self, href: String, text: String) -> Self {
        self.link = Some((href, text));
        self
    }

    pub fn unavailable(message: impl Into<String>) -> Self {
        Self {
            status: StatusCode::SERVICE_UNAVAILABLE,
            message: message.into(),
            banner: None,
            link: None,
        }
    }

    pub fn internal(message: impl Into<String>) -> Self {
        Self {
            status: StatusCode::INTERNAL_SERVER_ERROR,
            message: message.into(),
            banner: None,
            link: None,
        }
    }
}

impl PageError {
    /// The error as the API words its errors (`{"code", "message"}`), for a client that asked
    /// for JSON: a script piping an Aurora endpoint to `jq` gets JSON either way.
    pub fn into_json(self) -> Response {
        let code = match self.status {
            StatusCode::BAD_REQUEST => "INVALID_REQUEST",
            StatusCode::NOT_FOUND => "NOT_FOUND",
            StatusCode::SERVICE_UNAVAILABLE => "ERROR_TRANSIENT",
            _ => "ERROR",
        };
        let body = serde_json::json!({"code": code, "message": self.message});
        (self.status, axum::Json(body)).into_response()
    }
}

#[derive(Template)]
#[template(path = "error.html")]
struct ErrorPage {
    layout: Layout,
    status: String,
    message: String,
    link: Option<(String, String)>,
}

impl IntoResponse for PageError {
    fn into_response(self) -> Response {
        let page = ErrorPage {
            layout: Layout {
                cluster: "aurora".into(),
                title: self.status.to_string(),
                section: "",
                banner: self.banner.map(|b| *b),
                at: String::new(),
                served_by: None,
                warning: None,
            },
            status: self.status.to_string(),
            message: self.message,
            link: self.link,
        };
        match page.render() {
            Ok(body) => (self.status, Html(body)).into_response(),
            Err(e) => (self.status, format!("{}: {e}", page.message)).into_response(),
        }
    }
}

/// Renders a page, or a 500 naming the template error.
/// Whether the client asked for Aurora's JSON rather than the page: `/maintenance`, `/quotas`
/// and `/cron` answer JSON in Aurora (scripts `curl` them and pipe to `jq`), HTML here to a
/// browser, which always names `text/html` in its `Accept`; a client that does not (curl's
/// `*/*`, none at all, `application/json`) gets Aurora's JSON.
pub fn wants_json(headers: &axum::http::HeaderMap) -> bool {
    // Media types are case-insensitive.
    let accept = headers
        .get(header::ACCEPT)
        .and_then(|v| v.to_str().ok())
        .unwrap_or("")
        .to_ascii_lowercase();
    accept.contains("application/json") || !accept.contains("text/html")
}

/// `value` as a JSON answer.
pub fn json(value: &serde_json::Value) -> Response {
    axum::Json(value).into_response()
}

pub fn render(page: &impl Template) -> Result<Response, PageError> {
    page.render()
        .map(|body| Html(body).into_response())
        .map_err(|e| PageError::internal(format!("rendering the page failed: {e}")))
}

/// Runs `query` on the views at the moment `?at=` names (live without it). A past moment is
/// replayed on a blocking thread; the answer comes with the banner for that moment.
pub async fn read<R, F>(
    state: &WebState,
    path: &str,
    at: &AtQuery,
    query: F,
) -> Result<(R, Moment), PageError>
where
    F: FnOnce(&Views) -> R + Send + 'static,
    R: Send + 'static,
{
    let requested = moment::parse(at.at.as_deref()).map_err(PageError::bad_request)?;
    if requested == Requested::Live {
        let moment = Moment {
            banner: None,
            at: String::new(),
        };
        return Ok((state.read.live_off_thread(query).await, moment));
    }
    let read = Arc::clone(&state.read);
    let path = path.to_string();
    tokio::task::spawn_blocking(move || {
        let latest = read.last_seq();
        let seq = moment::resolve(&read, requested).map_err(PageError::bad_request)?;
        let views = read
            .past(seq)
            .map_err(|e| PageError::internal(format!("replaying the journal to seq {seq}: {e}")))?;
        let time = event_time(&views, seq);
        let moment = Moment {
            banner: Some(Banner::new(&path, seq, latest, time)),
            at: format!("?at={seq}"),
        };
        Ok((query(&views), moment))
    })
    .await
    .map_err(|e| PageError::internal(format!("reading the past failed: {e}")))?
}

/// When event `seq` was committed, from the view's activity feed.
fn event_time(views: &Views, seq: Seq) -> Option<String> {
    views
        .activity(1)
        .first()
        .filter(|entry| entry.seq == seq)
        .map(|entry| format::time(entry.at))
}

pub async fn not_found(uri: axum::http::Uri) -> PageError {
    PageError::not_found(format!("there is no page at {}", uri.path()))
}

pub async fn stylesheet() -> impl IntoResponse {
    (
        [(header::CONTENT_TYPE, "text/css; charset=utf-8")],
        include_str!("../../static/aurora.css"),
    )
}
