import torch

from tokenshuffle.image_metrics import psnr, ssim


def test_psnr_and_ssim_known_values_on_uint8():
    g = torch.Generator().manual_seed(0)
    a = torch.randint(0, 256, (2, 3, 32, 32), generator=g, dtype=torch.uint8)
    assert psnr(a, a, data_range=255).min() > 90
    torch.testing.assert_close(ssim(a, a, data_range=255), torch.ones(2))
    b = (a.int() + 5).clamp(0, 255).to(torch.uint8)
    mse = (a.float() - b.float()).pow(2).flatten(1).mean(1)
    torch.testing.assert_close(psnr(b, a, data_range=255), 10 * torch.log10(255**2 / mse))
    noisy = (a.float() + torch.randn(a.shape, generator=g) * 40).clamp(0, 255).to(torch.uint8)
    assert (ssim(noisy, a, data_range=255) < 0.9).all()
    assert (ssim(b, a, data_range=255) > ssim(noisy, a, data_range=255)).all()


def test_the_same_images_score_the_same_in_uint8_and_in_minus_one_to_one():
    g = torch.Generator().manual_seed(1)
    a = torch.randint(0, 256, (3, 3, 24, 24), generator=g, dtype=torch.uint8)
    b = (a.int() + torch.randint(-20, 21, a.shape, generator=g)).clamp(0, 255).to(torch.uint8)
    fa, fb = a.float() / 127.5 - 1, b.float() / 127.5 - 1  # the tokenizers' [-1, 1]
    torch.testing.assert_close(psnr(fb, fa, data_range=2.0), psnr(b, a, data_range=255), rtol=1e-5, atol=1e-4)
    torch.testing.assert_close(ssim(fb + 1, fa + 1, data_range=2.0), ssim(b, a, data_range=255), rtol=1e-4,
                               atol=1e-5)
