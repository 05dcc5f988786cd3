//! The pipeline against a scripted broker on an in-memory stream, in paused time.

use std::time::Duration;

use bytes::{Bytes, BytesMut};
use kafka_protocol::messages::{ApiKey, MetadataRequest, MetadataResponse};
use tokio::io::{AsyncReadExt, AsyncWriteExt, DuplexStream};
use tokio::time::Instant;

use super::{OutFrame, Pipeline};
use crate::net::ConnectionError;
use crate::protocol::codec;

const VERSION: i16 = 12;
const TIMEOUT: Duration = Duration::from_secs(1);

fn start() -> (Pipeline, DuplexStream) {
    let (client, broker) = tokio::io::duplex(1 << 16);
    let pipeline = Pipeline::start(Box::new(client), "broker:9092", "test", 1 << 20, 8, TIMEOUT);
    (pipeline, broker)
}

fn request(id: i32) -> Result<OutFrame, codec::CodecError> {
    let mut buf = BytesMut::new();
    codec::encode_request(&mut buf, &MetadataRequest::default(), VERSION, id, "t")?;
    Ok(OutFrame::new([buf.freeze()]))
}

/// Reads one request frame; returns its correlation id.
async fn read_request(broker: &mut DuplexStream) -> i32 {
    let len = broker.read_i32().await.expect("a request") as usize;
    let mut body = vec![0u8; len];
    let _ = broker.read_exact(&mut body).await.expect("the request body");
    i32::from_be_bytes([body[4], body[5], body[6], body[7]])
}

async fn answer(broker: &mut DuplexStream, id: i32, throttle_ms: i32) {
    let body = MetadataResponse::default().with_throttle_time_ms(throttle_ms);
    let frame: Bytes = codec::encode_response(id, VERSION, &body).expect("encode");
    broker.write_all(&frame).await.expect("write");
}

#[tokio::test(start_paused = true)]
async fn a_throttled_connection_holds_requests_back_without_timing_them_out() {
    let (pipeline, mut broker) = start();
    let t0 = Instant::now();
    // Two requests on the wire before the broker says anything.
    let first = pipeline.send(ApiKey::Metadata, request).await.unwrap();
    let queued = pipeline.send(ApiKey::Metadata, request).await.unwrap();
    let id1 = read_request(&mut broker).await;
    let id2 = read_request(&mut broker).await;
    // The first answer asks for 3 s, three times the request timeout.
    answer(&mut broker, id1, 3000).await;
    let _ = first.wait().await.unwrap();
    // Sent now, written only once the throttle is over.
    let later = tokio::spawn({
        let pending = pipeline.send(ApiKey::Metadata, request).await.unwrap();
        async move { pending.wait().await }
    });
    let id3 = read_request(&mut broker).await;
    assert!(
        t0.elapsed() >= Duration::from_secs(3),
        "written after {:?}",
        t0.elapsed()
    );
    // The broker, muted, answers the queued request late: it has not timed out.
    tokio::time::sleep(Duration::from_millis(500)).await;
    answer(&mut broker, id2, 0).await;
    answer(&mut broker, id3, 0).await;
    let _ = queued.wait().await.expect("no timeout while throttled");
    let _ = later.await.unwrap().expect("no timeout while throttled");
    assert!(pipeline.failure().is_none());
}

#[tokio::test(start_paused = true)]
async fn a_silent_broker_still_times_out() {
    let (pipeline, mut broker) = start();
    let pending = pipeline.send(ApiKey::Metadata, request).await.unwrap();
    let _ = read_request(&mut broker).await;
    let err = pending.wait().await.unwrap_err();
    assert!(matches!(err, ConnectionError::Timeout { .. }), "{err}");
}

#[tokio::test(start_paused = true)]
async fn dropping_the_pipeline_lets_requests_on_the_wire_finish() {
    let (pipeline, mut broker) = start();
    let pending = pipeline.send(ApiKey::Metadata, request).await.unwrap();
    drop(pipeline);
    let id = read_request(&mut broker).await;
    answer(&mut broker, id, 0).await;
    let (got, _) = pending.wait().await.expect("answered, not failed with Closed");
    assert_eq!(got, id);
    // With the last request answered, the connection closes.
    let mut rest = Vec::new();
    let n = broker.read_to_end(&mut rest).await.unwrap();
    assert_eq!(n, 0);
}

#[tokio::test(start_paused = true)]
async fn close_waits_for_requests_on_the_wire_and_refuses_new_ones() {
    let (pipeline, mut broker) = start();
    let pending = pipeline.send(ApiKey::Metadata, request).await.unwrap();
    let id = read_request(&mut broker).await;
    let closing = async {
        pipeline.close().await;
    };
    let answering = async {
        tokio::time::sleep(Duration::from_millis(200)).await;
        answer(&mut broker, id, 0).await;
    };
    let waiting = async { pending.wait().await };
    let ((), (), answered) = tokio::join!(closing, answering, waiting);
    assert!(answered.is_ok());
    assert!(matches!(
        pipeline.send(ApiKey::Metadata, request).await,
        Err(ConnectionError::Closed { .. })
    ));
}
