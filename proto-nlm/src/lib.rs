//! NLM v4 and NSM v1 (not built yet; see issue "NLM v4 and NSM").
