//! Arrow C Data Interface bridge (placeholder).
