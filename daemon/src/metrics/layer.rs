//! Counts the errors callers are answered with, by gRPC code, from the
//! `grpc-status` header of each response. It sits outside the access
//! layer, so refusals (UNAUTHENTICATED, PERMISSION_DENIED, rate limits,
//! deadlines) count as well as the service's own errors (which all pass
//! through `From<Error> for Status`) and tonic's (OUT_OF_RANGE for an
//! oversized message). An error that ends a stream after it started goes
//! in the trailers and is not counted.

use std::{
    future::Future,
    pin::Pin,
    task::{Context, Poll},
};

use super::{CodeLabel, Errors, code_name};

/// Wraps the server's routes in [`ErrorsService`].
#[derive(Debug, Clone)]
pub struct ErrorsLayer {
    errors: Errors,
}

impl ErrorsLayer {
    pub fn new(errors: Errors) -> Self {
        Self { errors }
    }
}

impl<S> tower_layer::Layer<S> for ErrorsLayer {
    type Service = ErrorsService<S>;

    fn layer(&self, inner: S) -> Self::Service {
        ErrorsService {
            inner,
            errors: self.errors.clone(),
        }
    }
}

/// The error count around the inner service.
#[derive(Debug, Clone)]
pub struct ErrorsService<S> {
    inner: S,
    errors: Errors,
}

type BoxFuture<T, E> = Pin<Box<dyn Future<Output = Result<T, E>> + Send + 'static>>;

impl<S, Req, B> tower_service::Service<Req> for ErrorsService<S>
where
    S: tower_service::Service<Req, Response = http::Response<B>>,
    S::Future: Send + 'static,
    B: 'static,
{
    type Response = http::Response<B>;
    type Error = S::Error;
    type Future = BoxFuture<Self::Response, Self::Error>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
        self.inner.poll_ready(cx)
    }

    fn call(&mut self, request: Req) -> Self::Future {
        let future = self.inner.call(request);
        let errors = self.errors.clone();
        Box::pin(async move {
            let response = future.await?;
            if let Some(value) = response.headers().get("grpc-status") {
                let code = tonic::Code::from_bytes(value.as_bytes());
                if code != tonic::Code::Ok {
                    errors
                        .get_or_create(&CodeLabel {
                            code: code_name(code),
                        })
                        .inc();
                }
            }
            Ok(response)
        })
    }
}
