// expect: error[E0308]: mismatched types
// detail: expected `SeekingFile<'_>`, found `&LocalFile`
//! Moving a file's position outside `llseek`, without the position lock `lseek()` holds there:
//! `fixed_size_llseek` takes the `SeekingFile` that only `llseek` is given.

use crate::chardev::{fixed_size_llseek, SeekingFile};
use kernel::{fs::LocalFile, prelude::*};

pub(crate) fn rewind(file: &LocalFile) -> Result<i64> { // twin: pub(crate) fn rewind(file: SeekingFile<'_>) -> Result<i64> {
    fixed_size_llseek(file, 0, 0, 4096)
}

/// What the driver's tables reach.
pub(crate) fn used() {
    let _: fn(&LocalFile) -> Result<i64> = rewind; // twin: let _: fn(SeekingFile<'_>) -> Result<i64> = rewind;
}
