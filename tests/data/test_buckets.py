import pytest
from PIL import Image

from tokenshuffle.data.buckets import fit_to_bucket, nearest_bucket, parse_buckets

BUCKETS = parse_buckets("512,768x384,384x768,1024")


def test_parse_is_width_by_height():
    assert BUCKETS == ((512, 512), (384, 768), (768, 384), (1024, 1024))
    assert parse_buckets(None, size=64) == ((64, 64),) and parse_buckets(None) is None
    with pytest.raises(ValueError, match="WIDTHxHEIGHT"):
        parse_buckets("wide")
    with pytest.raises(ValueError, match="--size and --buckets"):
        parse_buckets("64", size=64)


@pytest.mark.parametrize("size,bucket", [
    ((1000, 1000), (1024, 1024)),  # square: the square of nearest area
    ((300, 280), (512, 512)),
    ((1600, 700), (384, 768)),  # wide (2.3:1) -> the 2:1 bucket, height 384
    ((500, 1100), (768, 384)),  # tall
    ((640, 480), (512, 512)),  # 4:3 is nearer 1:1 than 2:1 in log scale
])
def test_nearest_bucket_by_aspect_then_area(size, bucket):
    assert nearest_bucket(*size, BUCKETS) == bucket


@pytest.mark.parametrize("mode", ["crop", "resize"])
def test_fit_to_bucket_gives_the_bucket_size(mode):
    img = Image.new("RGB", (1600, 700))
    assert fit_to_bucket(img, BUCKETS, mode=mode).size == (768, 384)
    assert fit_to_bucket(img, None, mode=mode) is img
