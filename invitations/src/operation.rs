//! The OpenAPI `operationId` of each operation: what [`Error::operation`](crate::Error::operation)
//! names, what traces record, and what the built-in server's faults select
//! (`phasetwo_invitations_testing::Scope::Operation`). A test checks them against the spec the client is
//! generated from.

/// `POST …/orgs/{org}/invitations`: [`OrgInvitations::create`](crate::OrgInvitations::create).
pub const CREATE: &str = "addOrganizationInvitation";
/// `GET …/orgs/{org}/invitations`: [`OrgInvitations::list`](crate::OrgInvitations::list).
pub const LIST: &str = "getOrganizationInvitations";
/// `GET …/orgs/{org}/invitations/count`: [`OrgInvitations::count`](crate::OrgInvitations::count).
pub const COUNT: &str = "getOrganizationInvitationCount";
/// `GET …/orgs/{org}/invitations/{id}`: [`OrgInvitations::get`](crate::OrgInvitations::get).
pub const GET: &str = "getOrganizationInvitationById";
/// `DELETE …/orgs/{org}/invitations/{id}`: [`OrgInvitations::delete`](crate::OrgInvitations::delete).
pub const DELETE: &str = "removeOrganizationInvitation";
/// `PUT …/orgs/{org}/invitations/{id}/resend-email`:
/// [`OrgInvitations::resend`](crate::OrgInvitations::resend).
pub const RESEND: &str = "resendOrganizationInvitation";
/// `GET …/orgs/me/invitations`: [`MyInvitations::list`](crate::MyInvitations::list).
pub const MY_LIST: &str = "invitations";
/// `POST …/orgs/me/invitations/{id}`: [`MyInvitations::accept`](crate::MyInvitations::accept).
pub const ACCEPT: &str = "acceptInvitation";
/// `DELETE …/orgs/me/invitations/{id}`: [`MyInvitations::reject`](crate::MyInvitations::reject).
pub const REJECT: &str = "rejectInvitation";

/// Every operation of the client.
pub const ALL: [&str; 9] = [CREATE, LIST, COUNT, GET, DELETE, RESEND, MY_LIST, ACCEPT, REJECT];
