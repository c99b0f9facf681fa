//! A bare keep-alive HTTP/1.1 connection: the load generator shares two cores with the
//! platform, so each request should cost as little client CPU as possible.

use std::net::SocketAddr;

use anyhow::Context;
use bytes::Bytes;
use http_body_util::{BodyExt, Full};
use hyper::client::conn::http1::{self, SendRequest};
use hyper::header::{AUTHORIZATION, CONTENT_TYPE, HOST, HeaderValue};
use hyper::{Method, Request, StatusCode};
use hyper_util::rt::TokioIo;
use tokio::net::TcpStream;

/// One connection, reused for every request it sends (reconnected after an error).
pub struct HttpConnection {
    addr: SocketAddr,
    host: HeaderValue,
    authorization: Option<HeaderValue>,
    sender: Option<SendRequest<Full<Bytes>>>,
}

impl HttpConnection {
    /// Connects to `addr`, sending `Authorization: Bearer <api_key>` when given one.
    pub async fn connect(addr: SocketAddr, api_key: Option<&str>) -> anyhow::Result<Self> {
        let mut connection = Self {
            addr,
            host: HeaderValue::from_str(&addr.to_string())?,
            authorization: api_key
                .map(|key| HeaderValue::from_str(&format!("Bearer {key}")))
                .transpose()?,
            sender: None,
        };
        connection.sender = Some(connection.open().await?);
        Ok(connection)
    }

    async fn open(&self) -> anyhow::Result<SendRequest<Full<Bytes>>> {
        let stream = TcpStream::connect(self.addr)
            .await
            .with_context(|| format!("connecting to {}", self.addr))?;
        stream.set_nodelay(true)?;
        let (sender, connection) = http1::handshake(TokioIo::new(stream)).await?;
        tokio::spawn(async move {
            connection.await.ok();
        });
        Ok(sender)
    }

    /// Sends one request and reads the whole response.
    pub async fn send(
        &mut self,
        method: Method,
        path: &str,
        body: Option<Bytes>,
    ) -> anyhow::Result<(StatusCode, Bytes)> {
        let sender = match self.sender.as_mut() {
            Some(sender) if !sender.is_closed() => sender,
            _ => self.sender.insert(self.open().await?),
        };
        sender.ready().await?;
        let mut request = Request::builder()
            .method(method)
            .uri(path)
            .header(HOST, self.host.clone());
        if let Some(authorization) = &self.authorization {
            request = request.header(AUTHORIZATION, authorization.clone());
        }
        if body.is_some() {
            request = request.header(CONTENT_TYPE, "application/json");
        }
        let request = request.body(Full::new(body.unwrap_or_default()))?;
        let outcome = async {
            let response = sender.send_request(request).await?;
            let status = response.status();
            let bytes = response.into_body().collect().await?.to_bytes();
            anyhow::Ok((status, bytes))
        }
        .await;
        if outcome.is_err() {
            self.sender = None;
        }
        outcome
    }
}
