//! Staging a layer (decompress, hash, keep the tar, unpack) in a work
//! directory, and committing it into the store by rename.

use crate::digest::{self, HashingWriter, TeeReader};
use crate::error::{ImageError, IoContext, Result};
use crate::store::{hex, rand_name, ImageStore, LayerMeta, State};
use crate::unpack::unpack_layer;
use std::fs::{self, File};
use std::io::{self, BufRead, BufReader, BufWriter, Read, Write};
use std::path::{Path, PathBuf};

pub(crate) struct StagedLayer {
    pub dir: PathBuf,
    pub meta: LayerMeta,
}

const BUF: usize = 256 * 1024;

/// Compression of a layer, from its first bytes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Compression {
    None,
    Gzip,
    Zstd,
}

pub fn detect(head: &[u8]) -> Result<Compression> {
    Ok(match head {
        [0x1f, 0x8b, ..] => Compression::Gzip,
        [0x28, 0xb5, 0x2f, 0xfd, ..] => Compression::Zstd,
        [0x42, 0x5a, 0x68, ..] => {
            return Err(ImageError::Unsupported("bzip2 compressed layers".into()))
        }
        [0xfd, b'7', b'z', b'X', b'Z', 0x00, ..] => {
            return Err(ImageError::Unsupported("xz compressed layers".into()))
        }
        _ => Compression::None,
    })
}

/// Wraps `r` in the decompressor its first bytes ask for.
pub fn decompress<'a, R: BufRead + 'a>(mut r: R) -> Result<Box<dyn Read + 'a>> {
    let head = r
        .fill_buf()
        .map_err(|e| ImageError::InvalidArchive(format!("reading a layer: {e}")))?
        .to_vec();
    Ok(match detect(&head)? {
        Compression::None => Box::new(r),
        Compression::Gzip => Box::new(flate2::bufread::MultiGzDecoder::new(r)),
        Compression::Zstd => {
            Box::new(zstd::stream::read::Decoder::with_buffer(r).ctx(|| "zstd".into())?)
        }
    })
}

fn new_stage(work: &Path) -> Result<PathBuf> {
    let dir = work.join(format!("layer-{}", rand_name(10)));
    fs::create_dir_all(dir.join("diff")).ctx(|| format!("create {}", dir.display()))?;
    Ok(dir)
}

fn finish_meta(
    dir: PathBuf,
    diff_id: String,
    parent: Option<&str>,
    size: u64,
    tar_size: u64,
) -> Result<StagedLayer> {
    let chain_id = match parent {
        None => diff_id.clone(),
        Some(p) => digest::sha256_bytes(format!("{p} {diff_id}").as_bytes()),
    };
    let meta = LayerMeta {
        chain_id,
        diff_id,
        parent: parent.map(str::to_string),
        size,
        tar_size,
        link: rand_name(26),
    };
    berth_core::atomic::write_json(&dir.join("meta.json"), &meta)
        .ctx(|| "write layer meta".into())?;
    Ok(StagedLayer { dir, meta })
}

fn check_diff(expected: Option<&str>, actual: &str) -> Result<()> {
    match expected {
        Some(e) if e != actual => Err(ImageError::DigestMismatch {
            what: "layer".into(),
            expected: e.to_string(),
            actual: actual.to_string(),
        }),
        _ => Ok(()),
    }
}

/// Stages a layer from a stream of (possibly compressed) tar bytes.
pub(crate) fn stage_stream<R: Read>(
    work: &Path,
    src: R,
    parent: Option<&str>,
    expected: Option<&str>,
) -> Result<StagedLayer> {
    let dir = new_stage(work)?;
    let tar_file = File::create(dir.join("layer.tar")).ctx(|| "create layer.tar".into())?;
    let out = HashingWriter::new(BufWriter::with_capacity(BUF, tar_file));
    let plain = decompress(BufReader::with_capacity(BUF, src))?;
    let mut tee = TeeReader { inner: plain, out };
    let size = unpack_layer(&mut tee, &dir.join("diff"))?;
    io::copy(&mut tee, &mut io::sink())
        .map_err(|e| ImageError::InvalidArchive(format!("reading a layer: {e}")))?;
    let (w, diff_id, tar_size) = tee.out.finish();
    check_diff(expected, &diff_id)?;
    let f = w
        .into_inner()
        .map_err(|e| ImageError::io("flush layer.tar", e.into_error()))?;
    f.sync_all().ctx(|| "sync layer.tar".into())?;
    finish_meta(dir, diff_id, parent, size, tar_size)
}

/// Stages a layer from a file already on disk whose sha256 is known. An
/// uncompressed file becomes the layer's tar by rename.
pub(crate) fn stage_file(
    work: &Path,
    file: &Path,
    file_digest: &str,
    parent: Option<&str>,
    expected: Option<&str>,
) -> Result<StagedLayer> {
    let mut f = File::open(file).ctx(|| format!("open {}", file.display()))?;
    let mut head = [0u8; 8];
    let n = f.read(&mut head).ctx(|| "read layer".into())?;
    drop(f);
    if detect(&head[..n])? != Compression::None {
        let f = File::open(file).ctx(|| format!("open {}", file.display()))?;
        return stage_stream(work, f, parent, expected);
    }
    check_diff(expected, file_digest)?;
    let dir = new_stage(work)?;
    let f = File::open(file).ctx(|| format!("open {}", file.display()))?;
    let tar_size = f.metadata().map(|m| m.len()).unwrap_or(0);
    let size = unpack_layer(BufReader::with_capacity(BUF, f), &dir.join("diff"))?;
    fs::rename(file, dir.join("layer.tar")).ctx(|| "move layer.tar".into())?;
    finish_meta(dir, file_digest.to_string(), parent, size, tar_size)
}

/// Flushes the filesystem of the store, so that what is about to be
/// committed by rename is on disk first.
pub(crate) fn sync_store(root: &Path) {
    if let Ok(d) = File::open(root) {
        use std::os::fd::AsRawFd;
        let _ = nix::unistd::syncfs(d.as_raw_fd());
    }
}

impl ImageStore {
    /// Moves a staged layer into place (or drops it when the layer exists).
    pub(crate) fn commit_layer(&self, st: &mut State, staged: StagedLayer) -> Result<()> {
        let chain = staged.meta.chain_id.clone();
        if st.layers.contains_key(&chain) {
            self.discard_dir(&staged.dir);
            return Ok(());
        }
        if let Some(p) = &staged.meta.parent {
            if !st.layers.contains_key(p) {
                return Err(ImageError::Conflict(format!(
                    "parent layer {p} disappeared during the operation; retry"
                )));
            }
        }
        let dst = self.layer_dir(&chain);
        if dst.exists() {
            self.discard_dir(&dst);
        }
        fs::rename(&staged.dir, &dst).ctx(|| format!("commit layer {}", hex(&chain)))?;
        self.ensure_link(&staged.meta)?;
        st.layers.insert(chain, staged.meta);
        Ok(())
    }
}

/// Copies `src` into a new file, returning its sha256 and size.
pub(crate) fn write_hashed<R: Read>(mut src: R, path: &Path) -> Result<(String, u64)> {
    let f = File::create(path).ctx(|| format!("create {}", path.display()))?;
    let mut w = HashingWriter::new(BufWriter::with_capacity(BUF, f));
    io::copy(&mut src, &mut w).ctx(|| format!("write {}", path.display()))?;
    w.flush().ctx(|| "flush".into())?;
    let (_, d, n) = w.finish();
    Ok((d, n))
}
