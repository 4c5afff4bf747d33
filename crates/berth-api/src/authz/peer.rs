//! Who a TLS client is, for the plugins' `User`: its certificate's subject
//! common name.

use x509_parser::asn1_rs::Tag;
use x509_parser::prelude::{FromDer, X509Certificate};
use x509_parser::x509::AttributeTypeAndValue;

/// The subject common name of a DER X.509 certificate (the last one when
/// there are several, as Go reads it).
pub fn subject_common_name(cert: &[u8]) -> Option<String> {
    let (_, cert) = X509Certificate::from_der(cert).ok()?;
    let mut cn = None;
    for attr in cert.subject().iter_common_name() {
        cn = Some(attr_string(attr)?);
    }
    cn
}

/// The attribute's value, for the string types a name is written in.
fn attr_string(attr: &AttributeTypeAndValue<'_>) -> Option<String> {
    let v = attr.as_slice();
    match attr.attr_value().tag() {
        Tag::Utf8String | Tag::PrintableString | Tag::Ia5String | Tag::VisibleString => {
            String::from_utf8(v.to_vec()).ok()
        }
        // TeletexString, read as Latin-1
        Tag::TeletexString => Some(v.iter().map(|&c| char::from(c)).collect()),
        Tag::BmpString if v.len().is_multiple_of(2) => String::from_utf16(
            &v.chunks(2)
                .map(|c| u16::from_be_bytes([c[0], c[1]]))
                .collect::<Vec<_>>(),
        )
        .ok(),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn common_name_of_real_certificates() {
        let key = rcgen::KeyPair::generate().unwrap();
        let mut p = rcgen::CertificateParams::new(Vec::<String>::new()).unwrap();
        p.distinguished_name
            .push(rcgen::DnType::OrganizationName, "berth");
        p.distinguished_name
            .push(rcgen::DnType::CommonName, "alice ü");
        let c = p.self_signed(&key).unwrap();
        assert_eq!(subject_common_name(c.der()).as_deref(), Some("alice ü"));

        let mut p = rcgen::CertificateParams::new(Vec::<String>::new()).unwrap();
        p.distinguished_name = rcgen::DistinguishedName::new();
        p.distinguished_name
            .push(rcgen::DnType::OrganizationName, "no cn");
        let c = p.self_signed(&key).unwrap();
        assert_eq!(subject_common_name(c.der()), None);

        assert_eq!(subject_common_name(b""), None);
        assert_eq!(subject_common_name(&[0x30, 0x85, 1, 2, 3, 4, 5]), None);
        assert_eq!(subject_common_name(&c.der()[..40]), None);
    }

    #[test]
    fn common_name_in_other_string_types() {
        use rcgen::{BmpString, DnType, DnValue, TeletexString};
        let key = rcgen::KeyPair::generate().unwrap();
        let cn_of = |values: Vec<DnValue>| {
            let mut p = rcgen::CertificateParams::new(Vec::<String>::new()).unwrap();
            p.distinguished_name = rcgen::DistinguishedName::new();
            for v in values {
                p.distinguished_name.push(DnType::CommonName, v);
            }
            subject_common_name(p.self_signed(&key).unwrap().der())
        };
        let bmp = BmpString::try_from("b\u{f6}b \u{263a}").unwrap();
        assert_eq!(
            cn_of(vec![DnValue::BmpString(bmp)]).as_deref(),
            Some("b\u{f6}b \u{263a}")
        );
        let t61 = TeletexString::try_from("carol").unwrap();
        assert_eq!(
            cn_of(vec![DnValue::TeletexString(t61)]).as_deref(),
            Some("carol")
        );
    }
}
