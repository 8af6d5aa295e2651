//! An e-prescribing gateway: tested over HTTPS JSON; prescriptions are not sent yet.

use super::Service;

pub struct Pharmacy;

impl Service for Pharmacy {}
