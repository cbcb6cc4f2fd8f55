//! [`AdmissionLayer`]: builds an [`Admission`] for one connection.

use std::sync::Arc;

use tower::Layer;

use super::service::{Admission, AdmissionCtx, ConnCtx};

/// Applies admission to a service, for one client connection.
#[derive(Debug, Clone)]
pub struct AdmissionLayer {
    ctx: Arc<AdmissionCtx>,
    conn: Arc<ConnCtx>,
}

impl AdmissionLayer {
    /// A layer sharing `ctx`, for the connection described by `conn`.
    pub fn new(ctx: Arc<AdmissionCtx>, conn: Arc<ConnCtx>) -> Self {
        AdmissionLayer { ctx, conn }
    }
}

impl<S> Layer<S> for AdmissionLayer {
    type Service = Admission<S>;

    fn layer(&self, inner: S) -> Admission<S> {
        Admission::new(inner, self.ctx.clone(), self.conn.clone())
    }
}
