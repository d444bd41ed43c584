//! Checked byte cursor for hand-parsed layouts; the codec and keyspace do not need one (prost, serde and slice methods do their parsing).
