//! Response bodies: whole JSON documents, and chunked streams fed from a task.

use std::convert::Infallible;
use std::io;

use futures::channel::mpsc;
use http_body_util::{BodyExt, Full, StreamBody, combinators::BoxBody};
use hyper::body::{Bytes, Frame};
use hyper::{Response, StatusCode, header};
use serde_json::Value;

pub type Body = BoxBody<Bytes, io::Error>;

/// The writing end of a streamed body. An `Err` aborts the connection without the final chunk,
/// which is how a client sees a stream cut in the middle.
pub type Frames = mpsc::UnboundedSender<Result<Frame<Bytes>, io::Error>>;

/// Builds a JSON response with the status `code`.
pub fn json(code: u16, value: &Value) -> Response<Body> {
    bytes(code, "application/json", value.to_string().into_bytes())
}

/// Builds a response with a whole body of the given content type.
pub fn bytes(code: u16, content_type: &str, body: Vec<u8>) -> Response<Body> {
    let body = Full::new(Bytes::from(body))
        .map_err(|never: Infallible| match never {})
        .boxed();
    respond(code, content_type, body)
}

/// Starts a chunked `200 OK` body and returns the sender that writes it. Dropping the sender ends the body.
pub fn stream(content_type: &str) -> (Frames, Response<Body>) {
    let (tx, rx) = mpsc::unbounded();
    let body = BodyExt::boxed(StreamBody::new(rx));
    (tx, respond(200, content_type, body))
}

/// Writes one chunk; false once the client has gone.
pub fn send(frames: &Frames, data: impl Into<Bytes>) -> bool {
    frames.unbounded_send(Ok(Frame::data(data.into()))).is_ok()
}

/// Aborts the stream mid-body.
pub fn abort(frames: &Frames) {
    let _ = frames.unbounded_send(Err(io::Error::new(
        io::ErrorKind::ConnectionAborted,
        "fake API server cut the stream",
    )));
}

fn respond(code: u16, content_type: &str, body: Body) -> Response<Body> {
    let mut response = Response::new(body);
    *response.status_mut() =
        StatusCode::from_u16(code).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
    let headers = response.headers_mut();
    if let Ok(value) = content_type.parse() {
        headers.insert(header::CONTENT_TYPE, value);
    }
    if let Ok(value) = "no-cache, private".parse() {
        headers.insert(header::CACHE_CONTROL, value);
    }
    response
}
