//! [`H1Session`]: a client connection's current request behind Pingora's
//! server-session interface (its `Custom` kind), so that the proxy's
//! phases take the same `Session` for HTTP/1 as Pingora gives them for
//! HTTP/2. When dropped, the connection goes back to the engine's loop.

use super::server::Conn;
use async_trait::async_trait;
use bytes::Bytes;
use futures_core::Stream as FutureStream;
use http::{header, HeaderMap};
use pingora::http::{RequestHeader, ResponseHeader};
use pingora::protocols::http::custom::server::Session as CustomSession;
use pingora::protocols::http::custom::CustomMessageWrite;
use pingora::protocols::http::HttpTask;
use pingora::protocols::l4::socket::SocketAddr;
use pingora::protocols::Digest;
use pingora::Result;
use std::sync::{Arc, Mutex};
use std::time::Duration;

/// A [`Conn`] behind Pingora's server-session interface for one request.
/// When dropped, the connection goes back to `home` for the next request.
pub struct H1Session {
    conn: Option<Box<Conn>>,
    home: Arc<Mutex<Option<Box<Conn>>>>,
}

impl H1Session {
    /// The session for `conn`'s current request.
    pub fn new(conn: Box<Conn>, home: &Arc<Mutex<Option<Box<Conn>>>>) -> Self {
        H1Session {
            conn: Some(conn),
            home: Arc::clone(home),
        }
    }

    fn c(&self) -> &Conn {
        self.conn
            .as_deref()
            .expect("a session has its connection until dropped")
    }

    fn m(&mut self) -> &mut Conn {
        self.conn
            .as_deref_mut()
            .expect("a session has its connection until dropped")
    }
}

impl Drop for H1Session {
    fn drop(&mut self) {
        if let Some(conn) = self.conn.take() {
            *self.home.lock().unwrap_or_else(|e| e.into_inner()) = Some(conn);
        }
    }
}

/// Takes the connection back from a dropped [`H1Session`].
pub fn take_home(home: &Mutex<Option<Box<Conn>>>) -> Option<Box<Conn>> {
    home.lock().unwrap_or_else(|e| e.into_inner()).take()
}

type MessageReader = Box<dyn FutureStream<Item = Result<Bytes>> + Unpin + Send + Sync + 'static>;

#[async_trait]
impl CustomSession for H1Session {
    fn req_header(&self) -> &RequestHeader {
        self.c().req()
    }

    fn req_header_mut(&mut self) -> &mut RequestHeader {
        self.m().req_mut()
    }

    async fn read_body_bytes(&mut self) -> Result<Option<Bytes>> {
        self.m().read_body().await
    }

    async fn drain_request_body(&mut self) -> Result<()> {
        while self.m().read_body().await?.is_some() {}
        Ok(())
    }

    async fn write_response_header(&mut self, resp: Box<ResponseHeader>, end: bool) -> Result<()> {
        let conn = self.m();
        conn.write_head(resp).await?;
        if end {
            conn.end_body();
            conn.send().await?;
        }
        Ok(())
    }

    async fn write_response_header_ref(&mut self, resp: &ResponseHeader, end: bool) -> Result<()> {
        self.write_response_header(Box::new(resp.clone()), end)
            .await
    }

    async fn write_body(&mut self, data: Bytes, end: bool) -> Result<()> {
        self.m().write_body(data, end).await
    }

    async fn write_trailers(&mut self, trailers: HeaderMap) -> Result<()> {
        self.m().write_trailers(&trailers).await
    }

    async fn response_duplex_vec(&mut self, tasks: Vec<HttpTask>) -> Result<bool> {
        let mut done = false;
        for task in tasks {
            match task {
                HttpTask::Header(resp, end) => {
                    self.write_response_header(resp, end).await?;
                    done |= end;
                }
                HttpTask::Body(data, end) | HttpTask::UpgradedBody(data, end) => {
                    self.write_body(data.unwrap_or_default(), end).await?;
                    done |= end;
                }
                HttpTask::Trailer(Some(fields)) => {
                    self.m().write_trailers(&fields).await?;
                    done = true;
                }
                HttpTask::Trailer(None) | HttpTask::Done => {
                    self.finish().await?;
                    done = true;
                }
                HttpTask::Failed(e) => return Err(e),
            }
        }
        Ok(done)
    }

    fn set_read_timeout(&mut self, timeout: Option<Duration>) {
        self.m().read_timeout = timeout;
    }

    fn get_read_timeout(&self) -> Option<Duration> {
        self.c().read_timeout
    }

    fn set_write_timeout(&mut self, timeout: Option<Duration>) {
        self.m().write_timeout = timeout;
    }

    fn get_write_timeout(&self) -> Option<Duration> {
        self.c().write_timeout
    }

    fn set_total_drain_timeout(&mut self, _timeout: Option<Duration>) {}

    fn get_total_drain_timeout(&self) -> Option<Duration> {
        None
    }

    fn request_summary(&self) -> String {
        let req = self.c().req();
        let host = req
            .headers
            .get(header::HOST)
            .map(|h| String::from_utf8_lossy(h.as_bytes()))
            .unwrap_or_default();
        format!("{} {}, Host: {host}", req.method, req.uri)
    }

    fn response_written(&self) -> Option<&ResponseHeader> {
        self.c().response.as_deref()
    }

    async fn shutdown(&mut self, _code: u32, _ctx: &str) {
        let conn = self.m();
        conn.broken = true;
        conn.close().await;
    }

    fn is_body_done(&mut self) -> bool {
        self.c().body_done()
    }

    async fn finish(&mut self) -> Result<()> {
        let conn = self.m();
        conn.end_body();
        conn.send().await
    }

    fn is_body_empty(&mut self) -> bool {
        !self.c().has_body()
    }

    async fn read_body_or_idle(&mut self, _no_body_expected: bool) -> Result<Option<Bytes>> {
        self.m().idle().await
    }

    fn body_bytes_sent(&self) -> usize {
        self.c().body_sent
    }

    fn body_bytes_read(&self) -> usize {
        self.c().body_read
    }

    fn digest(&self) -> Option<&Digest> {
        Some(&self.c().digest)
    }

    fn digest_mut(&mut self) -> Option<&mut Digest> {
        Some(&mut self.m().digest)
    }

    fn client_addr(&self) -> Option<&SocketAddr> {
        self.c().digest.socket_digest.as_ref()?.peer_addr()
    }

    fn server_addr(&self) -> Option<&SocketAddr> {
        self.c().digest.socket_digest.as_ref()?.local_addr()
    }

    fn pseudo_raw_h1_request_header(&self) -> Bytes {
        self.c().raw_head()
    }

    /// Always on: the engine keeps the first 64 KiB of a body.
    fn enable_retry_buffering(&mut self) {}

    fn retry_buffer_truncated(&self) -> bool {
        self.c().retry_truncated
    }

    fn get_retry_buffer(&self) -> Option<Bytes> {
        self.c().retry_buffer()
    }

    async fn finish_custom(&mut self) -> Result<()> {
        Ok(())
    }

    fn take_custom_message_reader(&mut self) -> Option<MessageReader> {
        None
    }

    fn restore_custom_message_reader(&mut self, _reader: MessageReader) -> Result<()> {
        Ok(())
    }

    fn is_upgrade_req(&self) -> bool {
        let req = self.c().req();
        req.version == http::Version::HTTP_11 && req.headers.contains_key(header::UPGRADE)
    }

    fn take_custom_message_writer(&mut self) -> Option<Box<dyn CustomMessageWrite>> {
        None
    }

    fn restore_custom_message_writer(
        &mut self,
        _writer: Box<dyn CustomMessageWrite>,
    ) -> Result<()> {
        Ok(())
    }
}
