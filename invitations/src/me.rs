//! The invitee's side: the invitations addressed to the user whose token the client sends.

use std::sync::Arc;

use futures_util::future::Either;

use crate::call::{Call, CallOptions, call_builder};
use crate::client::Client;
use crate::error::Error;
use crate::model::Invitation;
use crate::operation;
use crate::retry::Effect;
use crate::validate;

/// The invitations of the signed-in user in one realm. Cheap to clone, `Send + 'static`.
#[derive(Clone, Debug)]
pub struct MyInvitations {
    client: Client,
    realm: Arc<str>,
}

impl Client {
    /// The invitations addressed to the user whose token this client sends.
    pub fn my_invitations(&self, realm: impl Into<String>) -> MyInvitations {
        MyInvitations { client: self.clone(), realm: realm.into().into() }
    }
}

impl MyInvitations {
    fn call<'a>(
        &'a self,
        operation: &'static str,
        effect: Effect,
        options: &'a CallOptions,
        invitation_id: Option<&'a str>,
    ) -> Call<'a> {
        Call { invitation_id, ..Call::new(operation, effect, options, &self.realm) }
    }

    /// All invitations addressed to the user (the server does not page this list).
    pub fn list(&self) -> ListMyInvitations {
        ListMyInvitations { me: self.clone(), options: CallOptions::default() }
    }

    /// Accepts an invitation: the user joins the organization.
    pub fn accept(&self, invitation_id: impl Into<String>) -> RespondToInvitation {
        RespondToInvitation {
            me: self.clone(),
            options: CallOptions::default(),
            id: invitation_id.into(),
            accept: true,
        }
    }

    /// Rejects an invitation: it is deleted.
    pub fn reject(&self, invitation_id: impl Into<String>) -> RespondToInvitation {
        RespondToInvitation {
            me: self.clone(),
            options: CallOptions::default(),
            id: invitation_id.into(),
            accept: false,
        }
    }
}

/// Builder of [`MyInvitations::list`].
#[derive(Clone, Debug)]
#[must_use = "a builder does nothing until sent"]
pub struct ListMyInvitations {
    me: MyInvitations,
    options: CallOptions,
}

impl ListMyInvitations {
    /// The user's invitations.
    pub async fn send(self) -> Result<Vec<Invitation>, Error> {
        const OP: &str = operation::MY_LIST;
        validate::path_segment("realm", &self.me.realm).map_err(|e| e.with_operation(OP))?;
        let me = &self.me;
        let response = me
            .client
            .engine()
            .call(me.call(OP, Effect::Read, &self.options, None), |raw| {
                raw.invitations().realm(&*me.realm).send()
            })
            .await?
            .answered()?;
        Ok(response.into_inner())
    }
}

call_builder!(ListMyInvitations => Vec<Invitation>);

/// Builder of [`MyInvitations::accept`] and [`MyInvitations::reject`].
#[derive(Clone, Debug)]
#[must_use = "a builder does nothing until sent"]
pub struct RespondToInvitation {
    me: MyInvitations,
    options: CallOptions,
    id: String,
    accept: bool,
}

impl RespondToInvitation {
    /// Sends the answer.
    pub async fn send(self) -> Result<(), Error> {
        let op = if self.accept { operation::ACCEPT } else { operation::REJECT };
        validate::path_segment("realm", &self.me.realm).map_err(|e| e.with_operation(op))?;
        validate::path_segment("invitation_id", &self.id).map_err(|e| e.with_operation(op))?;
        let me = &self.me;
        let (realm, id) = (&*me.realm, self.id.as_str());
        let call = me.call(op, Effect::Remove, &self.options, Some(id));
        let result = me
            .client
            .engine()
            .call(call, |raw| {
                if self.accept {
                    let accept = raw.accept_invitation().realm(realm);
                    Either::Left(accept.invitation_id(id).send())
                } else {
                    let reject = raw.reject_invitation().realm(realm);
                    Either::Right(reject.invitation_id(id).send())
                }
            })
            .await
            .map(drop);
        // Answered now, or by an earlier attempt whose answer was lost: done either way.
        result
    }
}

call_builder!(RespondToInvitation => ());
