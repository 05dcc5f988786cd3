//! Decompression of a records section under a size limit.
//!
//! The input comes from a source cluster and cannot be trusted: a few kilobytes of gzip can
//! inflate to gigabytes. Every codec here stops at `limit` bytes of output, and no buffer grows
//! beyond `limit + 1` bytes (plus the codec's own working state, see below). Streaming codecs
//! (gzip, lz4, zstd) are read through `Read::take(limit + 1)` into a buffer that grows by
//! doubling but never past that cap; snappy states its decompressed length up front, which is
//! checked before anything is allocated.
//!
//! What each codec accepts mirrors what Kafka's Java consumer reads
//! (`apache/kafka: clients/src/main/java/org/apache/kafka/common/compress/`):
//!
//! - gzip: one or more concatenated gzip members, as `java.util.zip.GZIPInputStream` reads them.
//! - snappy: the xerial framing that `SnappyOutputStream` writes (an 8-byte magic, two
//!   big-endian version ints, then big-endian i32 block lengths each followed by a raw snappy
//!   block; a repeated magic header starts a concatenated stream), or, when the magic is absent,
//!   one raw snappy block, the fallback of xerial's `SnappyInputStream`.
//! - lz4: one LZ4 frame (`Lz4BlockInputStream.java` reads the frame format, independent blocks).
//! - zstd: one or more zstd frames.
//!
//! Working state besides the output: gzip 32 KiB, lz4 up to 4 MiB (the largest block size the
//! frame format allows), zstd a window of at most `max(8 MiB, limit)` (frames that declare a
//! larger window are refused).

use std::io::{ErrorKind, Read};

use bytes::Bytes;

use super::RecordsError;
use crate::protocol::batch::Compression;

/// First read size; the buffer then doubles, capped at `limit + 1`.
const INITIAL_CHUNK: usize = 8 * 1024;

/// The xerial framing: magic, then version and minimum compatible version (big-endian i32).
const XERIAL_MAGIC: &[u8; 8] = b"\x82SNAPPY\x00";
const XERIAL_HEADER_LEN: usize = 16;
/// xerial's `SnappyInputStream` refuses streams whose version is below 1.
const XERIAL_MIN_VERSION: i32 = 1;
/// A snappy element produces at most 64 bytes from 3 input bytes (a 2-byte-offset copy), so a
/// block can never decompress to more than 22 times its size. A length header above that is
/// corrupt and refused before it is allocated, whatever the limit.
const SNAPPY_MAX_RATIO: usize = 22;

/// zstd windows: at least 8 MiB, enough for frames streamed at every level up to 19 (levels
/// 20-22 use 32-128 MiB), at most 128 MiB, the default limit of libzstd (which the Java
/// consumer, through zstd-jni, keeps).
const ZSTD_MIN_WINDOW_LOG: u32 = 23;
const ZSTD_MAX_WINDOW_LOG: u32 = 27;

fn codec_err(action: &'static str, codec: Compression, message: impl std::fmt::Display) -> RecordsError {
    RecordsError::Codec {
        action,
        codec,
        message: message.to_string(),
    }
}

fn too_large(codec: Compression, limit: usize) -> RecordsError {
    RecordsError::TooLarge { codec, limit }
}

/// The decompressed records section, or an error when it is corrupt or exceeds `limit` bytes.
pub(super) fn decompress(codec: Compression, input: Bytes, limit: usize) -> Result<Bytes, RecordsError> {
    match codec {
        Compression::None if input.len() > limit => return Err(too_large(codec, limit)),
        Compression::None => return Ok(input),
        Compression::Gzip => read_bounded(&mut flate2::read::MultiGzDecoder::new(&input[..]), codec, limit),
        Compression::Snappy => snappy(&input, limit),
        Compression::Lz4 => lz4(&input, limit),
        Compression::Zstd => zstd(&input, limit),
    }
    .map(Bytes::from)
}

/// Reads `reader` to its end, refusing more than `limit` bytes. The buffer never holds more
/// than `limit + 1` bytes: reads go through `take(limit + 1)`, and growth stops at that cap.
fn read_bounded<R: Read>(reader: &mut R, codec: Compression, limit: usize) -> Result<Vec<u8>, RecordsError> {
    let cap = limit.saturating_add(1);
    let mut reader = reader.take(u64::try_from(cap).unwrap_or(u64::MAX));
    let mut buf: Vec<u8> = Vec::new();
    let mut filled = 0;
    loop {
        if filled == buf.len() {
            if buf.len() >= cap {
                break;
            }
            let grow = buf.len().max(INITIAL_CHUNK).min(cap - buf.len());
            buf.reserve_exact(grow);
            buf.resize(buf.len() + grow, 0);
        }
        match reader.read(&mut buf[filled..]) {
            Ok(0) => break,
            Ok(n) => filled += n,
            Err(e) if e.kind() == ErrorKind::Interrupted => {}
            Err(e) => return Err(codec_err("decompress", codec, e)),
        }
    }
    if filled > limit {
        return Err(too_large(codec, limit));
    }
    buf.truncate(filled);
    Ok(buf)
}

fn lz4(input: &[u8], limit: usize) -> Result<Vec<u8>, RecordsError> {
    let codec = Compression::Lz4;
    let mut decoder = lz4::Decoder::new(input).map_err(|e| codec_err("decompress", codec, e))?;
    let out = read_bounded(&mut decoder, codec, limit)?;
    // The decoder reports a frame cut short as a quiet end of input; `finish` tells them apart.
    let (_, finished) = decoder.finish();
    finished.map_err(|_| codec_err("decompress", codec, "the LZ4 frame ends before its end mark"))?;
    Ok(out)
}

fn zstd(input: &[u8], limit: usize) -> Result<Vec<u8>, RecordsError> {
    let codec = Compression::Zstd;
    let mut decoder =
        zstd::stream::read::Decoder::with_buffer(input).map_err(|e| codec_err("decompress", codec, e))?;
    // A window larger than the output is never needed, but streaming encoders pick theirs from
    // the compression level without knowing the size, hence the floor.
    let window_log = limit
        .checked_ilog2()
        .unwrap_or(0)
        .clamp(ZSTD_MIN_WINDOW_LOG, ZSTD_MAX_WINDOW_LOG);
    decoder
        .window_log_max(window_log)
        .map_err(|e| codec_err("decompress", codec, e))?;
    read_bounded(&mut decoder, codec, limit)
}

/// The length a raw snappy block declares, checked against the remaining room and against
/// what the block can possibly hold.
fn snappy_block_len(block: &[u8], room: usize, limit: usize) -> Result<usize, RecordsError> {
    let codec = Compression::Snappy;
    let len = snap::raw::decompress_len(block).map_err(|e| codec_err("decompress", codec, e))?;
    if len > block.len().saturating_mul(SNAPPY_MAX_RATIO) {
        return Err(codec_err(
            "decompress",
            codec,
            format_args!(
                "a {}-byte snappy block declares {len} bytes, more than it can encode",
                block.len()
            ),
        ));
    }
    if len > room {
        return Err(too_large(codec, limit));
    }
    Ok(len)
}

fn be_i32(b: &[u8]) -> i32 {
    i32::from_be_bytes([b[0], b[1], b[2], b[3]])
}

/// The raw snappy blocks of a xerial stream (concatenated streams included).
fn xerial_blocks(input: &[u8]) -> Result<Vec<&[u8]>, RecordsError> {
    let codec = Compression::Snappy;
    let header = |h: &[u8]| -> Result<(), RecordsError> {
        if h.len() < XERIAL_HEADER_LEN || h[..XERIAL_MAGIC.len()] != XERIAL_MAGIC[..] {
            return Err(codec_err("decompress", codec, "truncated xerial snappy header"));
        }
        let version = be_i32(&h[8..12]);
        if version < XERIAL_MIN_VERSION {
            return Err(codec_err(
                "decompress",
                codec,
                format_args!("xerial snappy stream version {version} is not supported"),
            ));
        }
        Ok(())
    };
    header(input)?;
    let mut rest = &input[XERIAL_HEADER_LEN..];
    let mut blocks = Vec::new();
    // Like `SnappyInputStream`, fewer than 4 trailing bytes end the stream.
    while rest.len() >= 4 {
        if rest[..4] == XERIAL_MAGIC[..4] {
            header(rest)?;
            rest = &rest[XERIAL_HEADER_LEN..];
            continue;
        }
        let len = usize::try_from(be_i32(rest)).map_err(|_| {
            codec_err(
                "decompress",
                codec,
                format_args!("negative xerial snappy block length {}", be_i32(rest)),
            )
        })?;
        rest = &rest[4..];
        if len > rest.len() {
            return Err(codec_err(
                "decompress",
                codec,
                format_args!("xerial snappy block of {len} bytes, {} left", rest.len()),
            ));
        }
        let (block, tail) = rest.split_at(len);
        blocks.push(block);
        rest = tail;
    }
    Ok(blocks)
}

fn snappy(input: &[u8], limit: usize) -> Result<Vec<u8>, RecordsError> {
    let codec = Compression::Snappy;
    if input.is_empty() {
        return Err(codec_err("decompress", codec, "empty snappy input"));
    }
    let xerial = input.len() >= XERIAL_HEADER_LEN && input[..XERIAL_MAGIC.len()] == XERIAL_MAGIC[..];
    let blocks = if xerial {
        xerial_blocks(input)?
    } else {
        vec![input]
    };
    // Every length is checked before the single, exact allocation.
    let mut lens = Vec::with_capacity(blocks.len());
    let mut total: usize = 0;
    for block in &blocks {
        let len = snappy_block_len(block, limit - total, limit)?;
        total += len;
        lens.push(len);
    }
    let mut out = vec![0u8; total];
    let mut at = 0;
    for (block, len) in blocks.iter().zip(lens) {
        let n = snap::raw::Decoder::new()
            .decompress(block, &mut out[at..at + len])
            .map_err(|e| codec_err("decompress", codec, e))?;
        if n != len {
            return Err(codec_err(
                "decompress",
                codec,
                format_args!("snappy block declares {len} bytes but holds {n}"),
            ));
        }
        at += len;
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;
    use bytes::BytesMut;
    use std::io::Write;

    fn gzip(data: &[u8]) -> Vec<u8> {
        let mut e = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::default());
        e.write_all(data).unwrap();
        e.finish().unwrap()
    }

    fn raw_snappy(data: &[u8]) -> Vec<u8> {
        snap::raw::Encoder::new().compress_vec(data).unwrap()
    }

    fn xerial_header() -> Vec<u8> {
        let mut out = XERIAL_MAGIC.to_vec();
        out.extend_from_slice(&1i32.to_be_bytes());
        out.extend_from_slice(&1i32.to_be_bytes());
        out
    }

    fn xerial(chunks: &[&[u8]]) -> Vec<u8> {
        let mut out = xerial_header();
        for c in chunks {
            let block = raw_snappy(c);
            out.extend_from_slice(&(block.len() as i32).to_be_bytes());
            out.extend_from_slice(&block);
        }
        out
    }

    fn sample(n: usize) -> Vec<u8> {
        (0..n).map(|i| (i * 7 % 251) as u8).collect()
    }

    #[test]
    fn read_bounded_stops_an_endless_stream_at_the_cap() {
        // An endless reader: were the read unbounded, this would never return.
        let err = read_bounded(&mut std::io::repeat(0), Compression::Gzip, 100_000).unwrap_err();
        assert_eq!(
            err,
            RecordsError::TooLarge {
                codec: Compression::Gzip,
                limit: 100_000
            }
        );
    }

    #[test]
    fn read_bounded_accepts_exactly_the_limit_without_overallocating() {
        let data = sample(50_000);
        let out = read_bounded(&mut &data[..], Compression::Lz4, 50_000).unwrap();
        assert_eq!(out, data);
        assert!(out.capacity() <= 50_001, "capacity {}", out.capacity());
        assert!(read_bounded(&mut &data[..], Compression::Lz4, 49_999).is_err());
        let out = read_bounded(&mut &data[..], Compression::Lz4, usize::MAX).unwrap();
        assert_eq!(out, data);
    }

    #[test]
    fn gzip_bomb_is_refused() {
        // 64 MiB of zeros compress to about 64 KiB.
        let mut e = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::best());
        let zeros = vec![0u8; 1 << 20];
        for _ in 0..64 {
            e.write_all(&zeros).unwrap();
        }
        let bomb = e.finish().unwrap();
        assert!(bomb.len() < 1 << 17);
        let err = decompress(Compression::Gzip, Bytes::from(bomb), 1 << 20).unwrap_err();
        assert!(matches!(err, RecordsError::TooLarge { limit, .. } if limit == 1 << 20));
    }

    #[test]
    fn concatenated_gzip_members_are_read() {
        let mut two = gzip(b"hello ");
        two.extend_from_slice(&gzip(b"world"));
        let out = decompress(Compression::Gzip, Bytes::from(two), 100).unwrap();
        assert_eq!(&out[..], b"hello world");
    }

    #[test]
    fn corrupt_and_truncated_streams_are_errors() {
        let data = sample(10_000);
        let gz = gzip(&data);
        assert!(
            decompress(
                Compression::Gzip,
                Bytes::copy_from_slice(&gz[..gz.len() / 2]),
                1 << 20
            )
            .is_err()
        );

        let mut lz = BytesMut::new();
        use kafka_protocol::compression::Compressor as _;
        kafka_protocol::compression::Lz4::compress(&mut lz, |b: &mut BytesMut| {
            b.extend_from_slice(&data);
            Ok(())
        })
        .unwrap();
        assert_eq!(
            &decompress(Compression::Lz4, lz.clone().freeze(), 1 << 20).unwrap()[..],
            &data[..]
        );
        assert!(
            decompress(
                Compression::Lz4,
                lz.clone().freeze().slice(..lz.len() - 6),
                1 << 20
            )
            .is_err()
        );
        assert!(
            decompress(
                Compression::Lz4,
                Bytes::from_static(b"\x04\x22\x4d\x18garbage"),
                1 << 20
            )
            .is_err()
        );

        let zs = zstd::encode_all(&data[..], 3).unwrap();
        assert!(
            decompress(
                Compression::Zstd,
                Bytes::copy_from_slice(&zs[..zs.len() - 3]),
                1 << 20
            )
            .is_err()
        );
        assert!(decompress(Compression::Zstd, Bytes::from_static(b"not zstd"), 1 << 20).is_err());

        let sn = xerial(&[&data]);
        assert!(
            decompress(
                Compression::Snappy,
                Bytes::copy_from_slice(&sn[..sn.len() - 5]),
                1 << 20
            )
            .is_err()
        );
        assert!(decompress(Compression::Snappy, Bytes::new(), 1 << 20).is_err());
    }

    #[test]
    fn every_codec_refuses_output_over_the_limit() {
        let data = sample(70_000);
        let mut lz = BytesMut::new();
        use kafka_protocol::compression::Compressor as _;
        kafka_protocol::compression::Lz4::compress(&mut lz, |b: &mut BytesMut| {
            b.extend_from_slice(&data);
            Ok(())
        })
        .unwrap();
        let inputs = [
            (Compression::None, Bytes::from(data.clone())),
            (Compression::Gzip, Bytes::from(gzip(&data))),
            (
                Compression::Snappy,
                Bytes::from(xerial(&[&data[..40_000], &data[40_000..]])),
            ),
            (Compression::Snappy, Bytes::from(raw_snappy(&data))),
            (Compression::Lz4, lz.freeze()),
            (
                Compression::Zstd,
                Bytes::from(zstd::encode_all(&data[..], 3).unwrap()),
            ),
        ];
        for (codec, input) in inputs {
            assert_eq!(
                &decompress(codec, input.clone(), data.len()).unwrap()[..],
                &data[..],
                "{codec:?}"
            );
            assert_eq!(
                decompress(codec, input, data.len() - 1).unwrap_err(),
                RecordsError::TooLarge {
                    codec,
                    limit: data.len() - 1
                },
                "{codec:?}"
            );
        }
    }

    #[test]
    fn xerial_framing_with_several_blocks_and_concatenated_streams_decodes() {
        let data = sample(100_000);
        let mut input = xerial(&[&data[..32_768], &data[32_768..65_536]]);
        // A second stream appended to the first, as xerial's reader accepts.
        input.extend_from_slice(&xerial(&[&data[65_536..]]));
        let out = decompress(Compression::Snappy, Bytes::from(input.clone()), 1 << 20).unwrap();
        assert_eq!(&out[..], &data[..]);
        // Fewer than 4 trailing bytes end the stream, as in `SnappyInputStream`.
        input.extend_from_slice(&[0, 0]);
        assert_eq!(
            &decompress(Compression::Snappy, Bytes::from(input), 1 << 20).unwrap()[..],
            &data[..]
        );
    }

    #[test]
    fn xerial_framing_of_the_crate_compressor_decodes() {
        use kafka_protocol::compression::Compressor as _;
        let data = sample(80_000);
        let mut out = BytesMut::new();
        kafka_protocol::compression::Snappy::compress(&mut out, |b: &mut BytesMut| {
            b.extend_from_slice(&data);
            Ok(())
        })
        .unwrap();
        assert_eq!(&out[..8], XERIAL_MAGIC);
        assert_eq!(
            &decompress(Compression::Snappy, out.freeze(), 1 << 20).unwrap()[..],
            &data[..]
        );
    }

    #[test]
    fn raw_snappy_decodes() {
        let data = sample(5_000);
        let out = decompress(Compression::Snappy, Bytes::from(raw_snappy(&data)), 1 << 20).unwrap();
        assert_eq!(&out[..], &data[..]);
    }

    #[test]
    fn snappy_length_headers_are_checked_before_allocating() {
        // A raw block claiming 4 GiB - 1 in five bytes: refused without allocating.
        let claim = [0xff, 0xff, 0xff, 0xff, 0x0f];
        let err = decompress(Compression::Snappy, Bytes::copy_from_slice(&claim), usize::MAX).unwrap_err();
        assert!(matches!(err, RecordsError::Codec { .. }), "{err}");
        // The same claim under a limit is over the limit.
        let block = raw_snappy(&sample(1_000));
        let err = decompress(Compression::Snappy, Bytes::from(xerial(&[&sample(1_000)])), 999).unwrap_err();
        assert!(matches!(err, RecordsError::TooLarge { limit: 999, .. }));
        assert!(decompress(Compression::Snappy, Bytes::from(block), 1_000).is_ok());
        // A negative block length.
        let mut bad = xerial_header();
        bad.extend_from_slice(&(-5i32).to_be_bytes());
        bad.extend_from_slice(b"abcde");
        assert!(decompress(Compression::Snappy, Bytes::from(bad), 1 << 20).is_err());
        // Version 0 is refused.
        let mut old = xerial(&[b"abc"]);
        old[8..12].copy_from_slice(&0i32.to_be_bytes());
        assert!(decompress(Compression::Snappy, Bytes::from(old), 1 << 20).is_err());
    }

    #[test]
    fn zstd_window_follows_the_limit() {
        let data = sample(1000);
        // Level 19 streams with an 8 MiB window whatever the size; a small limit admits it.
        let mut e = zstd::stream::write::Encoder::new(Vec::new(), 19).unwrap();
        e.write_all(&data).unwrap();
        let frame = e.finish().unwrap();
        assert_eq!(
            &decompress(Compression::Zstd, Bytes::from(frame), 1000).unwrap()[..],
            &data[..]
        );

        // An empty frame by hand: magic, a descriptor without content size, a window
        // descriptor (exponent e: 2^(10 + e) bytes), one empty last raw block.
        let frame = |exponent: u8| Bytes::from(vec![0x28, 0xb5, 0x2f, 0xfd, 0x00, exponent << 3, 0x01, 0, 0]);
        // 16 MiB: over the floor, refused under a small limit, admitted under a larger one.
        assert!(decompress(Compression::Zstd, frame(14), 1000).is_err());
        assert!(
            decompress(Compression::Zstd, frame(14), 16 << 20)
                .unwrap()
                .is_empty()
        );
        // 1 GiB: beyond the cap whatever the limit.
        assert!(decompress(Compression::Zstd, frame(20), usize::MAX).is_err());
        assert!(decompress(Compression::Zstd, frame(13), 1).unwrap().is_empty());
    }
}
