//! The request-response framing: one length-prefixed frame each way, with a
//! size limit checked before anything is read into memory. The frames carry
//! protocol envelopes, decoded (with their own limits) by the node.

use futures::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt};
use libp2p::StreamProtocol;
use std::io;

pub const PROTOCOL: StreamProtocol = StreamProtocol::new("/tracenet/rr/1");

/// A frame: u32 big-endian length, then that many bytes.
#[derive(Debug, Clone, Copy)]
pub struct FrameCodec {
    pub max_bytes: usize,
}

impl FrameCodec {
    async fn read_frame<T: AsyncRead + Unpin + Send>(&self, io: &mut T) -> io::Result<Vec<u8>> {
        read_frame(io, self.max_bytes).await
    }

    async fn write_frame<T: AsyncWrite + Unpin + Send>(
        &self,
        io: &mut T,
        data: &[u8],
    ) -> io::Result<()> {
        write_frame(io, data, self.max_bytes).await?;
        io.close().await
    }
}

/// Reads one frame of at most `max_bytes`, refusing a larger length before
/// anything of its body is read into memory.
pub(super) async fn read_frame<T: AsyncRead + Unpin>(
    io: &mut T,
    max_bytes: usize,
) -> io::Result<Vec<u8>> {
    let mut len = [0u8; 4];
    io.read_exact(&mut len).await?;
    let len = u32::from_be_bytes(len) as usize;
    if len > max_bytes {
        return Err(io::Error::new(
            io::ErrorKind::InvalidData,
            format!("frame of {len} bytes exceeds the limit of {max_bytes}"),
        ));
    }
    let mut buf = vec![0u8; len];
    io.read_exact(&mut buf).await?;
    Ok(buf)
}

/// Writes one frame and flushes it. Its length and body go in one write:
/// a yamux stream sends each write as a frame of its own, and each frame
/// costs the connection a header, an encryption and, alone, a system call.
pub(super) async fn write_frame<T: AsyncWrite + Unpin>(
    io: &mut T,
    data: &[u8],
    max_bytes: usize,
) -> io::Result<()> {
    io.write_all(&frame_of(data, max_bytes)?).await?;
    io.flush().await
}

/// A frame's bytes: `data`'s length, then `data`; refused above `max_bytes`.
pub(super) fn frame_of(data: &[u8], max_bytes: usize) -> io::Result<Vec<u8>> {
    if data.len() > max_bytes {
        return Err(io::Error::new(
            io::ErrorKind::InvalidInput,
            format!(
                "frame of {} bytes exceeds the limit of {max_bytes}",
                data.len()
            ),
        ));
    }
    let mut frame = Vec::with_capacity(4 + data.len());
    frame.extend_from_slice(&(data.len() as u32).to_be_bytes());
    frame.extend_from_slice(data);
    Ok(frame)
}

impl libp2p::request_response::Codec for FrameCodec {
    type Protocol = StreamProtocol;
    type Request = Vec<u8>;
    type Response = Vec<u8>;

    async fn read_request<T: AsyncRead + Unpin + Send>(
        &mut self,
        _: &StreamProtocol,
        io: &mut T,
    ) -> io::Result<Vec<u8>> {
        self.read_frame(io).await
    }

    async fn read_response<T: AsyncRead + Unpin + Send>(
        &mut self,
        _: &StreamProtocol,
        io: &mut T,
    ) -> io::Result<Vec<u8>> {
        self.read_frame(io).await
    }

    async fn write_request<T: AsyncWrite + Unpin + Send>(
        &mut self,
        _: &StreamProtocol,
        io: &mut T,
        req: Vec<u8>,
    ) -> io::Result<()> {
        self.write_frame(io, &req).await
    }

    async fn write_response<T: AsyncWrite + Unpin + Send>(
        &mut self,
        _: &StreamProtocol,
        io: &mut T,
        res: Vec<u8>,
    ) -> io::Result<()> {
        self.write_frame(io, &res).await
    }
}
