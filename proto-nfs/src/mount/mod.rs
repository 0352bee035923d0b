//! MOUNT v3 (RFC 1813, Appendix I) and export access rules.
