//! Length-prefixed framing.
//!
//! Every Kafka request and response travels as a big-endian `i32` size followed by that many
//! bytes (`docs/protocol.html` in apache/kafka, "Common Request and Response Structure").
//! Splitting is sans-IO: the caller appends what it read to a `BytesMut` and asks for the next
//! whole frame. "Not enough bytes yet" is a normal answer, not an error.

use bytes::{Buf, Bytes, BytesMut};
use thiserror::Error;

/// Size of the length prefix in front of every frame.
pub const PREFIX_LEN: usize = 4;

/// Default limit on a single frame: large enough for a Fetch response at the usual
/// `fetch.max.bytes` (50 MiB) with room to spare, small enough that a garbage length cannot
/// make us allocate gigabytes.
pub const DEFAULT_MAX_FRAME_BYTES: usize = 128 * 1024 * 1024;

/// A frame prefix that can never be valid. Fatal for the connection: after it the byte
/// stream cannot be resynchronised.
#[derive(Debug, Error, Clone, Copy, PartialEq, Eq)]
pub enum FrameError {
    #[error("frame length {length} is negative")]
    NegativeLength { length: i32 },
    #[error("frame length {length} exceeds the limit of {max} bytes")]
    TooLarge { length: usize, max: usize },
}

/// What the buffer holds at its front.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FrameStatus {
    /// A whole frame whose body is `body_len` bytes long follows the prefix.
    Complete { body_len: usize },
    /// At least `total` bytes (prefix included) are needed before the frame is whole.
    Incomplete { total: usize },
}

/// Looks at the front of `buf` without consuming anything.
pub fn check(buf: &[u8], max_frame_bytes: usize) -> Result<FrameStatus, FrameError> {
    let Some(prefix) = buf.get(..PREFIX_LEN) else {
        return Ok(FrameStatus::Incomplete { total: PREFIX_LEN });
    };
    let length = i32::from_be_bytes([prefix[0], prefix[1], prefix[2], prefix[3]]);
    let body_len = usize::try_from(length).map_err(|_| FrameError::NegativeLength { length })?;
    if body_len > max_frame_bytes {
        return Err(FrameError::TooLarge {
            length: body_len,
            max: max_frame_bytes,
        });
    }
    let total = PREFIX_LEN + body_len;
    if buf.len() < total {
        Ok(FrameStatus::Incomplete { total })
    } else {
        Ok(FrameStatus::Complete { body_len })
    }
}

/// Removes the next whole frame from `buf` and returns its body (prefix stripped).
///
/// The body shares the buffer's allocation: no bytes are copied, so record sets decoded from
/// it stay slices of what was read from the socket.
pub fn split(buf: &mut BytesMut, max_frame_bytes: usize) -> Result<Option<Bytes>, FrameError> {
    match check(buf, max_frame_bytes)? {
        FrameStatus::Incomplete { .. } => Ok(None),
        FrameStatus::Complete { body_len } => {
            buf.advance(PREFIX_LEN);
            Ok(Some(buf.split_to(body_len).freeze()))
        }
    }
}

/// Splits a whole byte string into frames; a trailing partial frame is returned as the
/// remainder. Used by fuzzing and tests; the connection reader uses [`split`].
pub fn split_all(bytes: &[u8], max_frame_bytes: usize) -> Result<(Vec<Bytes>, usize), FrameError> {
    let mut buf = BytesMut::from(bytes);
    let mut frames = Vec::new();
    while let Some(frame) = split(&mut buf, max_frame_bytes)? {
        frames.push(frame);
    }
    Ok((frames, buf.len()))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn framed(body: &[u8]) -> Vec<u8> {
        let mut v = (body.len() as i32).to_be_bytes().to_vec();
        v.extend_from_slice(body);
        v
    }

    #[test]
    fn waits_for_prefix_and_body() {
        assert_eq!(check(&[0, 0], 100), Ok(FrameStatus::Incomplete { total: 4 }));
        assert_eq!(
            check(&[0, 0, 0, 3, 1], 100),
            Ok(FrameStatus::Incomplete { total: 7 })
        );
        assert_eq!(
            check(&[0, 0, 0, 1, 9], 100),
            Ok(FrameStatus::Complete { body_len: 1 })
        );
    }

    #[test]
    fn splits_consecutive_frames_and_keeps_the_tail() {
        let mut bytes = framed(b"abc");
        bytes.extend(framed(b""));
        bytes.extend(framed(b"defg"));
        bytes.extend_from_slice(&[0, 0, 0, 9, 1, 2]);
        let (frames, rest) = split_all(&bytes, 100).unwrap();
        assert_eq!(frames, vec![&b"abc"[..], &b""[..], &b"defg"[..]]);
        assert_eq!(rest, 6);
    }

    #[test]
    fn rejects_negative_and_oversized_lengths() {
        assert_eq!(
            check(&(-1i32).to_be_bytes(), 100),
            Err(FrameError::NegativeLength { length: -1 })
        );
        assert_eq!(
            check(&101i32.to_be_bytes(), 100),
            Err(FrameError::TooLarge {
                length: 101,
                max: 100
            })
        );
    }
}
