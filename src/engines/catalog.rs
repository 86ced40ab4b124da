//! Catalog registration (placeholder).
