"""Scoring restorations and classifications: PSNR/SSIM as the paper scores them, a head on pairs, confusion matrices."""
