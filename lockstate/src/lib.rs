//! The unified lock table (not built yet; see issue "lockstate").
