//! The one error type of the web layer. Each error knows its HTTP status; the cause is
//! logged and the person (or program) is shown a plain message, never internals.

use axum::http::StatusCode;
use pinbridge_app::AppError;
use pinbridge_store::StoreError;

#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// Not signed in, or no valid bearer token.
    #[error("sign-in required")]
    Unauthenticated,
    /// Signed in, but this is not theirs to do (a user on an admin page).
    #[error("you are not allowed to do this")]
    Forbidden,
    /// The CSRF check refused the request.
    #[error("this request did not come from a pinbridge form: reload the page and try again")]
    CrossSite,
    #[error("not found")]
    NotFound,
    /// A body or query that could not be read at all.
    #[error("{0}")]
    BadRequest(String),
    /// Well-formed input that breaks a rule (a bad UPN, a PIN length of 3).
    #[error("{0}")]
    Invalid(String),
    /// The request conflicts with the current state (already enabled, duplicate).
    #[error("{0}")]
    Conflict(String),
    #[error("too many failed sign-ins: try again later or ask an admin to clear the lock")]
    Locked,
    #[error("the service is unavailable; try again shortly")]
    Unavailable(String),
    /// Anything else: logged in full, shown as a plain sentence.
    #[error("something went wrong on the server")]
    Internal(String),
}

pub type Result<T, E = Error> = std::result::Result<T, E>;

impl Error {
    /// A value that breaks a rule, told what is wrong with it.
    pub(crate) fn invalid(e: impl std::fmt::Display) -> Self {
        Self::Invalid(e.to_string())
    }

    pub fn status_code(&self) -> StatusCode {
        match self {
            Self::Unauthenticated => StatusCode::UNAUTHORIZED,
            Self::Forbidden | Self::CrossSite => StatusCode::FORBIDDEN,
            Self::NotFound => StatusCode::NOT_FOUND,
            Self::BadRequest(_) => StatusCode::BAD_REQUEST,
            Self::Invalid(_) => StatusCode::UNPROCESSABLE_ENTITY,
            Self::Conflict(_) => StatusCode::CONFLICT,
            Self::Locked => StatusCode::TOO_MANY_REQUESTS,
            Self::Unavailable(_) => StatusCode::SERVICE_UNAVAILABLE,
            Self::Internal(_) => StatusCode::INTERNAL_SERVER_ERROR,
        }
    }

    /// A stable machine-readable code for the API's error body.
    pub fn code(&self) -> &'static str {
        match self {
            Self::Unauthenticated => "unauthenticated",
            Self::Forbidden => "forbidden",
            Self::CrossSite => "cross-site-request",
            Self::NotFound => "not-found",
            Self::BadRequest(_) => "bad-request",
            Self::Invalid(_) => "invalid",
            Self::Conflict(_) => "conflict",
            Self::Locked => "locked",
            Self::Unavailable(_) => "unavailable",
            Self::Internal(_) => "internal",
        }
    }

    /// Logs the cause where it is the server's fault; returns the message to show.
    pub fn public_message(&self) -> String {
        match self {
            Self::Internal(cause) => tracing::error!(cause = %cause, "request failed"),
            Self::Unavailable(cause) => tracing::warn!(cause = %cause, "store unavailable"),
            _ => tracing::debug!(error = %self, "request refused"),
        }
        self.to_string()
    }
}

impl From<StoreError> for Error {
    fn from(e: StoreError) -> Self {
        match e {
            StoreError::UnknownUser(_) => Self::NotFound,
            StoreError::DuplicateUser(_) | StoreError::DuplicateNumber(_) => {
                Self::Conflict(e.to_string())
            }
            StoreError::Rejected(op) => Self::Conflict(op.to_string()),
            StoreError::Invalid(m) => Self::Invalid(m),
            StoreError::Unavailable(m) => Self::Unavailable(m),
            other => Self::Internal(other.to_string()),
        }
    }
}

impl From<AppError> for Error {
    fn from(e: AppError) -> Self {
        match e {
            AppError::Store(s) => s.into(),
            AppError::WeakPassword => Self::Invalid(e.to_string()),
            AppError::OrganizerNotEnabled(_) => Self::Conflict(e.to_string()),
            AppError::NoMeeting(_) => Self::NotFound,
            other => Self::Internal(other.to_string()),
        }
    }
}

impl From<askama::Error> for Error {
    fn from(e: askama::Error) -> Self {
        Self::Internal(format!("template: {e}"))
    }
}
