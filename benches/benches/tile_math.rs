//! Tile maths on the request path: parsing a tile address and locating a point.

use bando_core::tile::{TileCoord, lonlat_to_tile_fraction};
use criterion::{Criterion, criterion_group, criterion_main};
use std::hint::black_box;

fn tile_math(c: &mut Criterion) {
    c.bench_function("TileCoord::new z14", |b| {
        b.iter(|| TileCoord::new(black_box(14), black_box(13047), black_box(7698)))
    });
    c.bench_function("lonlat_to_tile_fraction z14", |b| {
        b.iter(|| lonlat_to_tile_fraction(black_box(106.6981), black_box(10.7725), black_box(14)))
    });
}

criterion_group!(benches, tile_math);
criterion_main!(benches);
