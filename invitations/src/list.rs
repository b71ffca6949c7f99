//! Listing an organization's invitations: one page, or all of them as a lazy stream.
//!
//! The server pages by offset over a collection it does not order, so pages can repeat items
//! when invitations are added meanwhile: an invitation added before the current offset pushes
//! the last items of a page onto the next one. The stream skips ids it yielded in the last few
//! pages (memory stays bounded however many invitations are streamed), and fails instead of
//! looping when a server ignores the offset.

use std::collections::{HashSet, VecDeque};
use std::hash::{BuildHasher, BuildHasherDefault, Hasher, RandomState};

use futures_util::{Stream, TryStreamExt, stream};

use crate::call::{CallOptions, call_builder};
use crate::error::{Error, ErrorKind};
use crate::retry::Effect;
use crate::{Invitation, OrgInvitations, validate};

/// The server's page size when none is given.
pub const DEFAULT_PAGE_SIZE: u32 = 100;

/// How many recent pages' ids a stream remembers to skip repeats.
pub const DEFAULT_DEDUPE_WINDOW: usize = 4;

/// Builder of [`OrgInvitations::list`].
#[derive(Clone, Debug)]
#[must_use = "a builder does nothing until sent"]
pub struct ListInvitations {
    org: OrgInvitations,
    options: CallOptions,
    search: Option<String>,
    offset: u64,
    page_size: u32,
    max_items: Option<u64>,
    dedupe_window: usize,
}

impl ListInvitations {
    pub(crate) fn new(org: OrgInvitations) -> Self {
        ListInvitations {
            org,
            options: CallOptions::default(),
            search: None,
            offset: 0,
            page_size: DEFAULT_PAGE_SIZE,
            max_items: None,
            dedupe_window: DEFAULT_DEDUPE_WINDOW,
        }
    }

    /// Only invitations whose email contains `text`. Lower-cased here, because the server
    /// matches case-sensitively against the lower-cased emails it stores.
    pub fn search(mut self, text: impl AsRef<str>) -> Self {
        self.search = Some(text.as_ref().to_lowercase());
        self
    }

    /// Skips the first `offset` invitations.
    pub fn offset(mut self, offset: u64) -> Self {
        self.offset = offset;
        self
    }

    /// Invitations per request, 1 to `i32::MAX`. Default [`DEFAULT_PAGE_SIZE`].
    pub fn page_size(mut self, size: u32) -> Self {
        self.page_size = size;
        self
    }

    /// Stops after `n` invitations.
    pub fn max_items(mut self, n: u64) -> Self {
        self.max_items = Some(n);
        self
    }

    /// How many of the latest pages' ids [`pages`](Self::pages) and [`stream`](Self::stream)
    /// remember to skip an invitation they already yielded. Default
    /// [`DEFAULT_DEDUPE_WINDOW`]; `usize::MAX` remembers every id (memory then grows with
    /// the number streamed).
    pub fn dedupe_window(mut self, pages: usize) -> Self {
        self.dedupe_window = pages.max(1);
        self
    }

    fn check(&self) -> Result<(), Error> {
        self.org.check_scope()?;
        if self.page_size == 0 {
            return Err(Error::invalid("page_size", "must be at least 1"));
        }
        validate::wire_int("page_size", self.page_size.into())?;
        validate::wire_int("offset", self.offset)?;
        Ok(())
    }

    /// One request: the invitations at `offset`, at most `max` of them.
    async fn fetch(&self, offset: u64, max: u64) -> Result<Vec<Invitation>, Error> {
        const OP: &str = "getOrganizationInvitations";
        let first = validate::wire_int("offset", offset).map_err(|e| e.with_operation(OP))?;
        let max = validate::wire_int("page_size", max).map_err(|e| e.with_operation(OP))?;
        let org = &self.org;
        let response = org
            .client
            .call(org.call(OP, Effect::Read, &self.options), |raw| {
                let mut request = raw
                    .get_organization_invitations()
                    .realm(&*org.realm)
                    .org_id(&*org.org_id)
                    .first(first)
                    .max(max);
                if let Some(search) = &self.search {
                    request = request.search(search);
                }
                request.send()
            })
            .await?;
        Ok(response.into_inner())
    }

    /// Exactly one request: the page at [`offset`](Self::offset) of
    /// [`page_size`](Self::page_size) invitations (fewer with [`max_items`](Self::max_items)).
    pub async fn page(self) -> Result<Vec<Invitation>, Error> {
        self.check()
            .map_err(|e| e.with_operation("getOrganizationInvitations"))?;
        let size = u64::from(self.page_size).min(self.max_items.unwrap_or(u64::MAX));
        if size == 0 {
            return Ok(Vec::new());
        }
        self.fetch(self.offset, size).await
    }

    /// Same as [`page`](Self::page).
    pub async fn send(self) -> Result<Vec<Invitation>, Error> {
        self.page().await
    }

    /// All pages, requested one after the other as the stream is read. Stops after a short
    /// page or [`max_items`](Self::max_items); pages hold no id yielded within the
    /// [`dedupe_window`](Self::dedupe_window).
    pub fn pages(self) -> impl Stream<Item = Result<Vec<Invitation>, Error>> + Send + 'static {
        let pager = Pager {
            next_offset: self.offset,
            list: self,
            hasher: RandomState::new(),
            recent: VecDeque::new(),
            previous_page: None,
            yielded: 0,
            done: false,
        };
        stream::try_unfold(pager, |mut pager| async move {
            let page = pager.next_page().await?;
            Ok(page.map(|p| (p, pager)))
        })
    }

    /// All invitations, one by one, fetched page by page as the stream is read.
    pub fn stream(self) -> impl Stream<Item = Result<Invitation, Error>> + Send + 'static {
        self.pages()
            .map_ok(|page| stream::iter(page.into_iter().map(Ok)))
            .try_flatten()
    }
}

call_builder!(ListInvitations => Vec<Invitation>);

/// A set of id hashes. The keys already are keyed hashes, so hashing them again would only
/// cost time: the hasher passes them through.
type IdHashes = HashSet<u64, BuildHasherDefault<PassThrough>>;

#[derive(Default)]
struct PassThrough(u64);

impl Hasher for PassThrough {
    fn write(&mut self, bytes: &[u8]) {
        // Only `u64` keys are hashed here; fold anything else in anyway.
        for byte in bytes {
            self.0 = self.0.rotate_left(8) ^ u64::from(*byte);
        }
    }
    fn write_u64(&mut self, value: u64) {
        self.0 = value;
    }
    fn finish(&self) -> u64 {
        self.0
    }
}

/// Pages through a listing. Ids are remembered as keyed 64-bit hashes rather than strings: no
/// allocation per invitation, and with a window of a few thousand ids the chance of two
/// distinct ids colliding (and one being skipped) is below 10^-12.
struct Pager {
    list: ListInvitations,
    next_offset: u64,
    hasher: RandomState,
    /// Hashes of the ids yielded in the latest pages, newest last.
    recent: VecDeque<IdHashes>,
    /// Hash of the last page's ids in order, as the server sent them.
    previous_page: Option<u64>,
    yielded: u64,
    done: bool,
}

impl Pager {
    async fn next_page(&mut self) -> Result<Option<Vec<Invitation>>, Error> {
        const OP: &str = "getOrganizationInvitations";
        if self.previous_page.is_none() {
            self.list.check().map_err(|e| e.with_operation(OP))?;
        }
        let page_size = u64::from(self.list.page_size);
        loop {
            let wanted = self.list.max_items.map(|max| max - self.yielded);
            if self.done || wanted == Some(0) {
                return Ok(None);
            }
            let page = self.list.fetch(self.next_offset, page_size).await?;
            let count = page.len() as u64;
            if count < page_size {
                self.done = true;
            }
            if count == 0 {
                return Ok(None);
            }
            let ids: Vec<u64> = page.iter().map(|i| self.hasher.hash_one(&i.id)).collect();
            let page_hash = self.hasher.hash_one(&ids);
            if count == page_size && self.previous_page == Some(page_hash) {
                return Err(Error::new(ErrorKind::RepeatedPage)
                    .with_detail(format!(
                        "the page at offset {} repeats the previous one; the server ignores `first`",
                        self.next_offset
                    ))
                    .with_operation(OP));
            }
            self.previous_page = Some(page_hash);
            self.next_offset += count;

            let mut yielded = IdHashes::with_capacity_and_hasher(ids.len(), Default::default());
            let keep: Vec<bool> = ids
                .iter()
                .map(|id| !self.recent.iter().any(|seen| seen.contains(id)) && yielded.insert(*id))
                .collect();
            // Usually nothing repeats, and the page is passed on as it came.
            let mut fresh = if keep.iter().all(|k| *k) {
                page
            } else {
                page.into_iter()
                    .zip(keep)
                    .filter_map(|(invitation, keep)| keep.then_some(invitation))
                    .collect()
            };
            if self.recent.len() == self.list.dedupe_window {
                self.recent.pop_front();
            }
            self.recent.push_back(yielded);
            if let Some(wanted) = wanted {
                fresh.truncate(usize::try_from(wanted).unwrap_or(usize::MAX));
            }
            if fresh.is_empty() {
                continue;
            }
            self.yielded += fresh.len() as u64;
            return Ok(Some(fresh));
        }
    }
}
