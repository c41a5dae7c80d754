//! The tower layer: every request passes the guard before the service sees
//! it; accepted requests carry the verified `Claims` in their extensions.
//! A token verified before is decided without I/O or allocation of a boxed
//! future; only new tokens take the asynchronous path.

use std::future::Future;
use std::pin::Pin;
use std::task::{Context, Poll};

use http::{Request, Response};
use tower_layer::Layer;
use tower_service::Service;

use crate::guard::Guard;

#[derive(Clone)]
pub struct GuardLayer {
    guard: Guard,
}

impl GuardLayer {
    pub fn new(guard: Guard) -> Self {
        GuardLayer { guard }
    }
}

impl<S> Layer<S> for GuardLayer {
    type Service = GuardService<S>;

    fn layer(&self, inner: S) -> GuardService<S> {
        GuardService {
            guard: self.guard.clone(),
            inner,
        }
    }
}

#[derive(Clone)]
pub struct GuardService<S> {
    guard: Guard,
    inner: S,
}

type BoxFuture<T> = Pin<Box<dyn Future<Output = T> + Send + 'static>>;

pin_project_lite::pin_project! {
    /// The response future of `GuardService`.
    #[project = GuardFutureProj]
    pub enum GuardFuture<F, B, E> {
        Inner { #[pin] future: F },
        Refused { response: Option<Response<B>> },
        Slow { future: BoxFuture<Result<Response<B>, E>> },
    }
}

impl<F, B, E> Future for GuardFuture<F, B, E>
where
    F: Future<Output = Result<Response<B>, E>>,
{
    type Output = Result<Response<B>, E>;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        match self.project() {
            GuardFutureProj::Inner { future } => future.poll(cx),
            GuardFutureProj::Refused { response } => {
                Poll::Ready(Ok(response.take().expect("polled after completion")))
            }
            GuardFutureProj::Slow { future } => future.as_mut().poll(cx),
        }
    }
}

impl<S, ReqBody, ResBody> Service<Request<ReqBody>> for GuardService<S>
where
    S: Service<Request<ReqBody>, Response = Response<ResBody>> + Clone + Send + 'static,
    S::Future: Send + 'static,
    S::Error: Send + 'static,
    ReqBody: Send + 'static,
    ResBody: From<String> + Send + 'static,
{
    type Response = Response<ResBody>;
    type Error = S::Error;
    type Future = GuardFuture<S::Future, ResBody, S::Error>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
        self.inner.poll_ready(cx)
    }

    fn call(&mut self, mut request: Request<ReqBody>) -> Self::Future {
        match self.guard.authorize_cached(request.headers()) {
            Some(Ok(claims)) => {
                request.extensions_mut().insert(claims);
                GuardFuture::Inner {
                    future: self.inner.call(request),
                }
            }
            Some(Err(rejection)) => GuardFuture::Refused {
                response: Some(rejection.to_response()),
            },
            None => {
                // The ready service goes into the future; the clone left
                // behind is made ready by the next poll_ready.
                let clone = self.inner.clone();
                let mut inner = std::mem::replace(&mut self.inner, clone);
                let guard = self.guard.clone();
                GuardFuture::Slow {
                    future: Box::pin(async move {
                        match guard.authorize(request.headers()).await {
                            Ok(claims) => {
                                request.extensions_mut().insert(claims);
                                inner.call(request).await
                            }
                            Err(rejection) => Ok(rejection.to_response()),
                        }
                    }),
                }
            }
        }
    }
}
