"""Human review queue: decision files, promotion of approved images, the review log."""
