"""What VAEs are used for: anomaly detection, denoising, inpainting."""
