//! Request bodies as the plugins see them: read whole up to [`MAX_BODY`],
//! refused (and drained) beyond it, and re-framed for the handler.

use super::MAX_BODY;
use axum::body::Body;
use axum::http::{header, HeaderMap, HeaderValue};
use berth_types::{Error, ErrorKind};
use http_body_util::BodyExt;

/// How much of a refused oversized body is read and thrown away, so the
/// client, still sending, gets the 413 instead of a reset connection.
const DRAIN_MAX: usize = 16 << 20;
const DRAIN_TIME: std::time::Duration = std::time::Duration::from_secs(5);

/// Reads the whole body, up to [`MAX_BODY`]; more is 413, a broken body 400.
pub(super) async fn read_body(headers: &HeaderMap, mut body: Body) -> Result<bytes::Bytes, Error> {
    let declared = headers
        .get(header::CONTENT_LENGTH)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.trim().parse::<u64>().ok());
    let mut over = declared.is_some_and(|n| n > MAX_BODY as u64);
    let mut buf = Vec::with_capacity(declared.map_or(0, |n| n.min(MAX_BODY as u64) as usize));
    let mut drained = 0usize;
    let deadline = tokio::time::Instant::now() + DRAIN_TIME;
    loop {
        let frame = if over {
            match tokio::time::timeout_at(deadline, body.frame()).await {
                Ok(f) => f,
                Err(_) => break,
            }
        } else {
            body.frame().await
        };
        match frame {
            None => break,
            Some(Err(_)) if over => break,
            Some(Err(e)) => return Err(Error::invalid(format!("reading the request body: {e}"))),
            Some(Ok(f)) => {
                let Ok(data) = f.into_data() else { continue };
                if over {
                    drained += data.len();
                    if drained > DRAIN_MAX {
                        break;
                    }
                } else if buf.len() + data.len() > MAX_BODY {
                    over = true;
                    drained = buf.len() + data.len();
                    buf = Vec::new();
                } else {
                    buf.extend_from_slice(&data);
                }
            }
        }
    }
    if over {
        return Err(Error::new(
            ErrorKind::TooLarge,
            format!(
                "request body exceeds {MAX_BODY} bytes, the most an authorization plugin is shown; the request was refused"
            ),
        ));
    }
    Ok(buf.into())
}

/// Reads and drops up to [`DRAIN_MAX`] bytes of `body`, for at most
/// [`DRAIN_TIME`].
pub(super) async fn drain(mut body: Body) {
    let deadline = tokio::time::Instant::now() + DRAIN_TIME;
    let mut n = 0usize;
    while let Ok(Some(Ok(f))) = tokio::time::timeout_at(deadline, body.frame()).await {
        n += f.data_ref().map_or(0, |d| d.len());
        if n > DRAIN_MAX {
            break;
        }
    }
}

/// After buffering, the handler sees a plain `Content-Length` body.
pub(super) fn normalize_framing(headers: &mut HeaderMap, len: usize) {
    let had_framing = headers.remove(header::TRANSFER_ENCODING).is_some()
        || headers.contains_key(header::CONTENT_LENGTH);
    if had_framing || len > 0 {
        headers.insert(header::CONTENT_LENGTH, HeaderValue::from(len));
    }
}
