//! A minimal HTTP/1.1 keep-alive client over a unix stream socket.
//!
//! It is written by hand rather than taken from hyper so that one measured round trip is exactly
//! one `write` of the request and the reads of one response, with no executor, pool or task
//! hand-off between the clock and the socket. It understands what the Engine API answers to a
//! plain `GET`: a status line, headers, and a body framed by `Content-Length` or by chunked
//! transfer encoding (Go's net/http chunks every JSON body dockerd streams out).

use std::io::{self, BufRead, BufReader, Write};
use std::os::unix::net::UnixStream;
use std::path::{Path, PathBuf};
use std::time::Duration;

/// What can go wrong talking to an engine.
#[derive(Debug, thiserror::Error)]
pub enum HttpError {
    #[error("connecting to {path}: {source}")]
    Connect { path: PathBuf, source: io::Error },
    #[error("i/o on the engine socket: {0}")]
    Io(#[from] io::Error),
    #[error("the engine closed the connection before a full response")]
    Closed,
    #[error("malformed response: {0}")]
    Protocol(String),
}

/// A response: its status, the `Connection: close` flag, and the body.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Response {
    pub status: u16,
    pub close: bool,
    pub body: Vec<u8>,
}

/// One persistent connection to an engine socket. Reconnects only if the engine closed it.
pub struct Client {
    path: PathBuf,
    timeout: Duration,
    conn: Option<Conn>,
    request: Vec<u8>,
    opened: bool,
    /// How many connections were opened after the first: stays 0 when keep-alive holds.
    pub reconnects: u64,
}

struct Conn {
    reader: BufReader<UnixStream>,
    writer: UnixStream,
}

impl Client {
    /// A client for `path`. Nothing is connected until the first request.
    pub fn new(path: impl Into<PathBuf>, timeout: Duration) -> Self {
        Client {
            path: path.into(),
            timeout,
            conn: None,
            request: Vec::new(),
            opened: false,
            reconnects: 0,
        }
    }

    /// Opens the connection now, so that the first timed request does not pay for `connect`.
    pub fn connect(&mut self) -> Result<(), HttpError> {
        if self.conn.is_none() {
            self.conn = Some(self.open()?);
        }
        Ok(())
    }

    /// `GET path` over the kept-alive connection; the whole body is read before returning.
    pub fn get(&mut self, path: &str) -> Result<Response, HttpError> {
        self.request.clear();
        write_get(&mut self.request, path);
        if self.conn.is_none() {
            self.conn = Some(self.open()?);
        }
        let conn = self.conn.as_mut().ok_or(HttpError::Closed)?;
        let res = conn
            .writer
            .write_all(&self.request)
            .map_err(HttpError::from)
            .and_then(|()| read_response(&mut conn.reader));
        match res {
            Ok(r) => {
                if r.close {
                    self.conn = None;
                }
                Ok(r)
            }
            Err(e) => {
                self.conn = None;
                Err(e)
            }
        }
    }

    fn open(&mut self) -> Result<Conn, HttpError> {
        if self.opened {
            self.reconnects += 1;
        }
        let conn = open(&self.path, self.timeout)?;
        self.opened = true;
        Ok(conn)
    }
}

fn open(path: &Path, timeout: Duration) -> Result<Conn, HttpError> {
    let stream = UnixStream::connect(path).map_err(|source| HttpError::Connect {
        path: path.to_owned(),
        source,
    })?;
    stream.set_read_timeout(Some(timeout))?;
    stream.set_write_timeout(Some(timeout))?;
    let writer = stream.try_clone()?;
    Ok(Conn {
        reader: BufReader::with_capacity(64 * 1024, stream),
        writer,
    })
}

/// Appends the bytes of a `GET` request for `path` to `out`.
pub fn write_get(out: &mut Vec<u8>, path: &str) {
    out.extend_from_slice(b"GET ");
    out.extend_from_slice(path.as_bytes());
    out.extend_from_slice(
        b" HTTP/1.1\r\nHost: api.moby.localhost\r\nUser-Agent: berth-bench\r\n\r\n",
    );
}

/// Reads one response from `r`: status line, headers, and the body however it is framed.
pub fn read_response<R: BufRead>(r: &mut R) -> Result<Response, HttpError> {
    let mut line = String::new();
    read_line(r, &mut line)?;
    let status = parse_status_line(&line)?;
    let mut length: Option<usize> = None;
    let mut chunked = false;
    let mut close = false;
    loop {
        read_line(r, &mut line)?;
        if line.is_empty() {
            break;
        }
        let Some((name, value)) = line.split_once(':') else {
            return Err(HttpError::Protocol(format!(
                "header without a colon: {line:?}"
            )));
        };
        let value = value.trim();
        if name.eq_ignore_ascii_case("content-length") {
            length = Some(
                value
                    .parse()
                    .map_err(|_| HttpError::Protocol(format!("bad Content-Length {value:?}")))?,
            );
        } else if name.eq_ignore_ascii_case("transfer-encoding") {
            chunked = value
                .split(',')
                .any(|v| v.trim().eq_ignore_ascii_case("chunked"));
        } else if name.eq_ignore_ascii_case("connection") {
            close = value
                .split(',')
                .any(|v| v.trim().eq_ignore_ascii_case("close"));
        }
    }
    let mut body = Vec::new();
    if status == 204 || status == 304 || (100..200).contains(&status) {
        // No body by definition.
    } else if chunked {
        read_chunked(r, &mut body, &mut line)?;
    } else if let Some(n) = length {
        body.resize(n, 0);
        r.read_exact(&mut body).map_err(eof_is_closed)?;
    } else {
        // Neither length nor chunking: the body runs to the end of the connection.
        r.read_to_end(&mut body)?;
        close = true;
    }
    Ok(Response {
        status,
        close,
        body,
    })
}

fn read_chunked<R: BufRead>(
    r: &mut R,
    body: &mut Vec<u8>,
    line: &mut String,
) -> Result<(), HttpError> {
    loop {
        read_line(r, line)?;
        let size_text = line.split(';').next().unwrap_or("").trim();
        let size = usize::from_str_radix(size_text, 16)
            .map_err(|_| HttpError::Protocol(format!("bad chunk size {size_text:?}")))?;
        if size == 0 {
            // Trailers, then the empty line.
            loop {
                read_line(r, line)?;
                if line.is_empty() {
                    return Ok(());
                }
            }
        }
        let start = body.len();
        body.resize(start + size, 0);
        r.read_exact(&mut body[start..]).map_err(eof_is_closed)?;
        read_line(r, line)?;
        if !line.is_empty() {
            return Err(HttpError::Protocol("chunk not followed by CRLF".into()));
        }
    }
}

/// Reads one CRLF- (or LF-) terminated line into `line`, without the terminator.
fn read_line<R: BufRead>(r: &mut R, line: &mut String) -> Result<(), HttpError> {
    line.clear();
    let n = r.read_line(line)?;
    if n == 0 {
        return Err(HttpError::Closed);
    }
    if !line.ends_with('\n') {
        return Err(HttpError::Closed);
    }
    let trimmed = line.trim_end_matches(['\r', '\n']).len();
    line.truncate(trimmed);
    Ok(())
}

fn eof_is_closed(e: io::Error) -> HttpError {
    if e.kind() == io::ErrorKind::UnexpectedEof {
        HttpError::Closed
    } else {
        HttpError::Io(e)
    }
}

/// The status code of an `HTTP/1.x NNN reason` line.
pub fn parse_status_line(line: &str) -> Result<u16, HttpError> {
    let mut parts = line.splitn(3, ' ');
    let version = parts.next().unwrap_or("");
    let code = parts.next().unwrap_or("");
    if !version.starts_with("HTTP/1.") || code.len() != 3 {
        return Err(HttpError::Protocol(format!("bad status line {line:?}")));
    }
    code.parse()
        .map_err(|_| HttpError::Protocol(format!("bad status line {line:?}")))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(raw: &str) -> Result<Response, HttpError> {
        read_response(&mut io::Cursor::new(raw.as_bytes().to_vec()))
    }

    #[test]
    fn content_length_body() {
        let r = parse("HTTP/1.1 200 OK\r\nApi-Version: 1.41\r\nContent-Length: 2\r\n\r\nOKextra")
            .unwrap();
        assert_eq!(
            r,
            Response {
                status: 200,
                close: false,
                body: b"OK".to_vec()
            }
        );
    }

    #[test]
    fn chunked_body_with_extension_and_trailer() {
        let raw = "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n4;x=y\r\n{\"a\"\r\n3\r\n:1}\r\n0\r\nX-T: 1\r\n\r\n";
        let r = parse(raw).unwrap();
        assert_eq!(r.body, br#"{"a":1}"#);
    }

    #[test]
    fn two_responses_on_one_connection() {
        let raw = "HTTP/1.1 200 OK\r\nContent-Length: 1\r\n\r\nAHTTP/1.1 404 Not Found\r\nTransfer-Encoding: chunked\r\nConnection: close\r\n\r\n1\r\nB\r\n0\r\n\r\n";
        let mut cur = io::Cursor::new(raw.as_bytes().to_vec());
        let a = read_response(&mut cur).unwrap();
        let b = read_response(&mut cur).unwrap();
        assert_eq!((a.status, a.body, a.close), (200, b"A".to_vec(), false));
        assert_eq!((b.status, b.body, b.close), (404, b"B".to_vec(), true));
    }

    #[test]
    fn no_content_has_no_body() {
        let r = parse("HTTP/1.1 204 No Content\r\n\r\n").unwrap();
        assert!(r.body.is_empty());
    }

    #[test]
    fn truncated_response_is_closed() {
        assert!(matches!(
            parse("HTTP/1.1 200 OK\r\nContent-Length: 10\r\n\r\nshort"),
            Err(HttpError::Closed)
        ));
        assert!(matches!(
            parse("HTTP/1.1 200 OK\r\nContent-"),
            Err(HttpError::Closed)
        ));
        assert!(matches!(parse(""), Err(HttpError::Closed)));
    }

    #[test]
    fn bad_status_line() {
        assert!(matches!(
            parse("SPDY 200 OK\r\n\r\n"),
            Err(HttpError::Protocol(_))
        ));
        assert!(matches!(
            parse("HTTP/1.1 2000 OK\r\n\r\n"),
            Err(HttpError::Protocol(_))
        ));
        assert_eq!(
            parse_status_line("HTTP/1.0 500 Internal Server Error").unwrap(),
            500
        );
    }

    #[test]
    fn request_bytes() {
        let mut out = Vec::new();
        write_get(&mut out, "/_ping");
        assert_eq!(
            out,
            b"GET /_ping HTTP/1.1\r\nHost: api.moby.localhost\r\nUser-Agent: berth-bench\r\n\r\n"
        );
    }
}
