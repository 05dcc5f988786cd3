//! Request encoding and response decoding around the kafka-protocol crate's message types.
//!
//! Requests are written as one frame (length prefix included) into a `BytesMut`. Responses
//! are decoded from the frame body as `Bytes`, so byte fields such as a partition's records
//! stay slices of the receive buffer (the crate's `Bytes` decoder splits, it does not copy).

use bytes::{Buf, BufMut, Bytes, BytesMut};
use kafka_protocol::messages::{ApiKey, RequestHeader, ResponseHeader};
use kafka_protocol::protocol::{Decodable, Encodable, HeaderVersion, Request, StrBytes};
use thiserror::Error;

use super::frame::PREFIX_LEN;

#[derive(Debug, Error, Clone, PartialEq, Eq)]
pub enum CodecError {
    #[error("cannot encode {api:?} v{version} request: {message}")]
    Encode {
        api: ApiKey,
        version: i16,
        message: String,
    },
    #[error("cannot decode {api:?} v{version} response: {message}")]
    Decode {
        api: ApiKey,
        version: i16,
        message: String,
    },
    #[error("response frame of {len} bytes is too short to hold a correlation id")]
    NoCorrelationId { len: usize },
    #[error("{api:?} response carries correlation id {got}, expected {expected}")]
    CorrelationMismatch { api: ApiKey, expected: i32, got: i32 },
    #[error("unknown API key {key}")]
    UnknownApiKey { key: i16 },
}

fn api_of<R: Request>() -> Result<ApiKey, CodecError> {
    ApiKey::try_from(R::KEY).map_err(|()| CodecError::UnknownApiKey { key: R::KEY })
}

/// Writes the length prefix and request header for `api` and returns the position of the
/// prefix, to be patched by [`finish_frame`] once the body is written.
pub fn start_request_frame(
    buf: &mut BytesMut,
    api: ApiKey,
    version: i16,
    correlation_id: i32,
    client_id: &str,
) -> Result<usize, CodecError> {
    let start = buf.len();
    buf.put_i32(0);
    let header = RequestHeader::default()
        .with_request_api_key(api as i16)
        .with_request_api_version(version)
        .with_correlation_id(correlation_id)
        .with_client_id(Some(StrBytes::from_string(client_id.to_owned())));
    header
        .encode(buf, api.request_header_version(version))
        .map_err(|e| CodecError::Encode {
            api,
            version,
            message: format!("{e:#}"),
        })?;
    Ok(start)
}

/// Patches the length prefix written by [`start_request_frame`].
pub fn finish_frame(buf: &mut BytesMut, start: usize) {
    let len = (buf.len() - start - PREFIX_LEN) as i32;
    buf[start..start + PREFIX_LEN].copy_from_slice(&len.to_be_bytes());
}

/// Encodes one whole request frame.
pub fn encode_request<R: Request>(
    buf: &mut BytesMut,
    request: &R,
    version: i16,
    correlation_id: i32,
    client_id: &str,
) -> Result<(), CodecError> {
    let api = api_of::<R>()?;
    let start = start_request_frame(buf, api, version, correlation_id, client_id)?;
    request.encode(buf, version).map_err(|e| CodecError::Encode {
        api,
        version,
        message: format!("{e:#}"),
    })?;
    finish_frame(buf, start);
    Ok(())
}

/// The correlation id at the front of every response header, whatever its version.
pub fn peek_correlation_id(frame: &[u8]) -> Result<i32, CodecError> {
    match frame.get(..4) {
        Some(b) => Ok(i32::from_be_bytes([b[0], b[1], b[2], b[3]])),
        None => Err(CodecError::NoCorrelationId { len: frame.len() }),
    }
}

/// Decodes a response frame body (prefix already stripped) for request type `R`.
pub fn decode_response<R: Request>(
    mut frame: Bytes,
    version: i16,
    expected_correlation_id: i32,
) -> Result<R::Response, CodecError> {
    let api = api_of::<R>()?;
    let decode_err = |e: anyhow::Error| CodecError::Decode {
        api,
        version,
        message: format!("{e:#}"),
    };
    let header =
        ResponseHeader::decode(&mut frame, R::Response::header_version(version)).map_err(decode_err)?;
    if header.correlation_id != expected_correlation_id {
        return Err(CodecError::CorrelationMismatch {
            api,
            expected: expected_correlation_id,
            got: header.correlation_id,
        });
    }
    let response = R::Response::decode(&mut frame, version).map_err(decode_err)?;
    if frame.has_remaining() {
        tracing::debug!(
            ?api,
            version,
            trailing = frame.remaining(),
            "response has trailing bytes"
        );
    }
    Ok(response)
}

/// Encodes one whole response frame, as a broker answers (the fake and synthetic brokers).
pub fn encode_response<R: Encodable + HeaderVersion>(
    correlation_id: i32,
    version: i16,
    body: &R,
) -> Result<Bytes, String> {
    let mut buf = BytesMut::new();
    buf.put_i32(0);
    ResponseHeader::default()
        .with_correlation_id(correlation_id)
        .encode(&mut buf, R::header_version(version))
        .map_err(|e| format!("{e:#}"))?;
    body.encode(&mut buf, version).map_err(|e| format!("{e:#}"))?;
    finish_frame(&mut buf, 0);
    Ok(buf.freeze())
}

#[cfg(test)]
mod tests {
    use super::*;
    use kafka_protocol::messages::{MetadataRequest, MetadataResponse};

    #[test]
    fn request_frames_carry_length_header_and_body() {
        let mut buf = BytesMut::new();
        encode_request(&mut buf, &MetadataRequest::default(), 12, 77, "kmirror-test").unwrap();
        let len = i32::from_be_bytes(buf[..4].try_into().unwrap()) as usize;
        assert_eq!(len, buf.len() - 4);
        assert_eq!(i16::from_be_bytes([buf[4], buf[5]]), ApiKey::Metadata as i16);
        assert_eq!(i16::from_be_bytes([buf[6], buf[7]]), 12);
        assert_eq!(i32::from_be_bytes(buf[8..12].try_into().unwrap()), 77);
    }

    #[test]
    fn responses_decode_and_check_the_correlation_id() {
        let mut body = BytesMut::new();
        let version = 12;
        ResponseHeader::default()
            .with_correlation_id(5)
            .encode(&mut body, MetadataResponse::header_version(version))
            .unwrap();
        MetadataResponse::default()
            .with_throttle_time_ms(3)
            .encode(&mut body, version)
            .unwrap();
        let frame = body.freeze();
        assert_eq!(peek_correlation_id(&frame), Ok(5));
        let r = decode_response::<MetadataRequest>(frame.clone(), version, 5).unwrap();
        assert_eq!(r.throttle_time_ms, 3);
        assert!(matches!(
            decode_response::<MetadataRequest>(frame.clone(), version, 6),
            Err(CodecError::CorrelationMismatch { .. })
        ));
        assert!(matches!(
            decode_response::<MetadataRequest>(frame.slice(..frame.len() - 2), version, 5),
            Err(CodecError::Decode { .. })
        ));
    }
}
