//! Replay: a staged run loaded into another target (see `barge replay`).
