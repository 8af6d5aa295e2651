//! Archival or backup storage: tested by writing, reading back and deleting a probe object.

use super::Service;

pub struct DataStorage;

impl Service for DataStorage {}
