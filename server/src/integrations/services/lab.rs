//! A laboratory information system: tested over HTTPS JSON, HL7 v2 over MLLP or HL7 v2 over
//! HTTP. Results intake and order sends are to land here.

use super::Service;

pub struct Lab;

impl Service for Lab {}
