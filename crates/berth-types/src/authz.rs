//! The authorization plugin protocol: what the engine sends to
//! `AuthZPlugin.AuthZReq` (before a request is handled) and to
//! `AuthZPlugin.AuthZRes` (after it), and what a plugin answers.
//!
//! The field names and encodings are Docker's: byte fields (`RequestBody`,
//! `ResponseBody`) are base64 strings, as Go encodes `[]byte`; empty fields
//! are left out; `RequestUri` is spelled that way (Go plugins match field
//! names case-insensitively, others do not), and `RequestURI` is accepted
//! on the way in.

use base64::engine::general_purpose::STANDARD;
use base64::Engine;
use serde::{Deserialize, Deserializer, Serialize, Serializer};
use std::collections::BTreeMap;

/// The method called before the request is handled.
pub const AUTHZ_REQ: &str = "AuthZPlugin.AuthZReq";
/// The method called after the request was handled, with its response.
pub const AUTHZ_RES: &str = "AuthZPlugin.AuthZRes";
/// What an authorization plugin lists in `Plugin.Activate`'s `Implements`.
pub const IMPLEMENTS: &str = "authz";

/// The body of both calls. `Response*` fields are set for `AuthZRes` only.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq, Default)]
pub struct Request {
    /// The client certificate's subject common name, empty without TLS.
    #[serde(rename = "User", default, skip_serializing_if = "String::is_empty")]
    pub user: String,
    /// `TLS` when `user` came from a client certificate.
    #[serde(
        rename = "UserAuthNMethod",
        default,
        skip_serializing_if = "String::is_empty"
    )]
    pub user_authn_method: String,
    #[serde(
        rename = "RequestMethod",
        default,
        skip_serializing_if = "String::is_empty"
    )]
    pub request_method: String,
    /// The request target exactly as the client sent it, version prefix
    /// and query included (`/v1.41/containers/create?name=x`).
    #[serde(
        rename = "RequestUri",
        alias = "RequestURI",
        default,
        skip_serializing_if = "String::is_empty"
    )]
    pub request_uri: String,
    /// The whole request body.
    #[serde(
        rename = "RequestBody",
        default,
        with = "b64",
        skip_serializing_if = "Vec::is_empty"
    )]
    pub request_body: Vec<u8>,
    /// The request's headers, credentials left out, names in Go's
    /// canonical form (`Content-Type`).
    #[serde(
        rename = "RequestHeaders",
        default,
        deserialize_with = "null_default",
        skip_serializing_if = "BTreeMap::is_empty"
    )]
    pub request_headers: BTreeMap<String, String>,
    /// The client's TLS certificate(s), each a base64 string of its PEM.
    #[serde(
        rename = "RequestPeerCertificates",
        default,
        deserialize_with = "null_default",
        skip_serializing_if = "Vec::is_empty"
    )]
    pub request_peer_certificates: Vec<String>,
    #[serde(
        rename = "ResponseStatusCode",
        default,
        skip_serializing_if = "is_zero"
    )]
    pub response_status_code: u16,
    #[serde(
        rename = "ResponseBody",
        default,
        with = "b64",
        skip_serializing_if = "Vec::is_empty"
    )]
    pub response_body: Vec<u8>,
    #[serde(
        rename = "ResponseHeaders",
        default,
        deserialize_with = "null_default",
        skip_serializing_if = "BTreeMap::is_empty"
    )]
    pub response_headers: BTreeMap<String, String>,
}

/// A plugin's answer. Anything but `Allow: true` denies.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq, Default)]
pub struct Response {
    #[serde(rename = "Allow", default)]
    pub allow: bool,
    #[serde(rename = "Msg", default, deserialize_with = "null_default")]
    pub msg: String,
    #[serde(rename = "Err", default, deserialize_with = "null_default")]
    pub err: String,
}

impl Response {
    pub fn allow() -> Self {
        Response {
            allow: true,
            ..Default::default()
        }
    }
    pub fn deny(msg: impl Into<String>) -> Self {
        Response {
            allow: false,
            msg: msg.into(),
            err: String::new(),
        }
    }
}

fn is_zero(v: &u16) -> bool {
    *v == 0
}

fn null_default<'de, D: Deserializer<'de>, T: Default + Deserialize<'de>>(
    d: D,
) -> Result<T, D::Error> {
    Ok(Option::<T>::deserialize(d)?.unwrap_or_default())
}

/// Go's `[]byte` in JSON: a base64 string (standard alphabet, padded), or null.
mod b64 {
    use super::*;

    pub fn serialize<S: Serializer>(v: &[u8], s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(&STANDARD.encode(v))
    }

    pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<Vec<u8>, D::Error> {
        match Option::<String>::deserialize(d)? {
            None => Ok(Vec::new()),
            Some(s) => STANDARD
                .decode(s.as_bytes())
                .map_err(|e| serde::de::Error::custom(format!("invalid base64: {e}"))),
        }
    }
}

/// PEM text of a DER certificate, base64-encoded again as Go sends
/// `RequestPeerCertificates`.
pub fn peer_certificate(der: &[u8]) -> String {
    let b = STANDARD.encode(der);
    let mut pem = String::from("-----BEGIN CERTIFICATE-----\n");
    for line in b.as_bytes().chunks(64) {
        pem.push_str(std::str::from_utf8(line).unwrap_or_default());
        pem.push('\n');
    }
    pem.push_str("-----END CERTIFICATE-----\n");
    STANDARD.encode(pem.as_bytes())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn encodes_like_docker() {
        let mut r = Request {
            request_method: "POST".into(),
            request_uri: "/v1.41/volumes/create".into(),
            request_body: br#"{"Name":"v"}"#.to_vec(),
            ..Default::default()
        };
        r.request_headers
            .insert("Content-Type".into(), "application/json".into());
        let v = serde_json::to_value(&r).unwrap();
        assert_eq!(
            v,
            serde_json::json!({
                "RequestMethod": "POST",
                "RequestUri": "/v1.41/volumes/create",
                "RequestBody": "eyJOYW1lIjoidiJ9",
                "RequestHeaders": {"Content-Type": "application/json"}
            })
        );
    }

    #[test]
    fn decodes_go_shapes() {
        let r: Request = serde_json::from_str(
            r#"{"User":"alice","UserAuthNMethod":"TLS","RequestMethod":"GET",
                "RequestURI":"/_ping","RequestBody":null,"RequestHeaders":null,
                "ResponseStatusCode":200,"ResponseBody":"T0s="}"#,
        )
        .unwrap();
        assert_eq!(r.user, "alice");
        assert_eq!(r.request_uri, "/_ping");
        assert!(r.request_body.is_empty());
        assert_eq!(r.response_status_code, 200);
        assert_eq!(r.response_body, b"OK");
        assert!(serde_json::from_str::<Request>(r#"{"RequestBody":"%%%"}"#).is_err());
    }

    #[test]
    fn missing_allow_denies() {
        let r: Response = serde_json::from_str(r#"{"Msg":null}"#).unwrap();
        assert!(!r.allow);
        let r: Response = serde_json::from_str(r#"{"Allow":true}"#).unwrap();
        assert!(r.allow);
        assert!(serde_json::from_str::<Response>(r#"{"Allow":"yes"}"#).is_err());
    }

    #[test]
    fn peer_certificate_is_base64_pem() {
        let s = peer_certificate(&[1, 2, 3]);
        let pem = String::from_utf8(STANDARD.decode(s).unwrap()).unwrap();
        assert_eq!(
            pem,
            "-----BEGIN CERTIFICATE-----\nAQID\n-----END CERTIFICATE-----\n"
        );
    }
}
