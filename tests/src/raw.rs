//! Raw bytes to any method of the daemon, for requests no typed client can
//! send (undecodable messages, invalid UTF-8 in a string).

use tonic::{Status, codec::Codec};

/// A codec that sends raw bytes and hands back the raw response bytes.
#[derive(Debug, Clone, Copy, Default)]
pub struct RawCodec;

impl Codec for RawCodec {
    type Encode = Vec<u8>;
    type Decode = Vec<u8>;
    type Encoder = RawCodec;
    type Decoder = RawCodec;
    fn encoder(&mut self) -> Self::Encoder {
        RawCodec
    }
    fn decoder(&mut self) -> Self::Decoder {
        RawCodec
    }
}

impl tonic::codec::Encoder for RawCodec {
    type Item = Vec<u8>;
    type Error = Status;
    fn encode(
        &mut self,
        item: Vec<u8>,
        dst: &mut tonic::codec::EncodeBuf<'_>,
    ) -> Result<(), Self::Error> {
        use bytes::BufMut;
        dst.put_slice(&item);
        Ok(())
    }
}

impl tonic::codec::Decoder for RawCodec {
    type Item = Vec<u8>;
    type Error = Status;
    fn decode(
        &mut self,
        src: &mut tonic::codec::DecodeBuf<'_>,
    ) -> Result<Option<Vec<u8>>, Self::Error> {
        use bytes::Buf;
        let mut out = vec![0; src.remaining()];
        src.copy_to_slice(&mut out);
        Ok(Some(out))
    }
}

/// Sends `bytes` as the request of `method` (e.g. `SubmitReport`) of
/// `truce.v1.Truce` at `url`: the first response message's bytes, or the
/// status the call ended with. Server-streaming methods work too.
pub async fn call(url: &str, method: &str, bytes: Vec<u8>) -> Result<Vec<u8>, Status> {
    let channel = tonic::transport::Channel::from_shared(url.to_owned())
        .map_err(|e| Status::invalid_argument(e.to_string()))?
        .connect()
        .await
        .map_err(|e| Status::unavailable(e.to_string()))?;
    let mut grpc = tonic::client::Grpc::new(channel);
    grpc.ready()
        .await
        .map_err(|e| Status::unavailable(e.to_string()))?;
    let path = http::uri::PathAndQuery::try_from(format!("/truce.v1.Truce/{method}"))
        .map_err(|e| Status::invalid_argument(e.to_string()))?;
    let mut stream = grpc
        .server_streaming(tonic::Request::new(bytes), path, RawCodec)
        .await?
        .into_inner();
    stream
        .message()
        .await?
        .ok_or_else(|| Status::unknown("the stream ended without a message"))
}
