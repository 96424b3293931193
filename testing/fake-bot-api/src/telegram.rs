//! What Telegram keeps and does, as the fake models it: the links it created (their
//! `member_limit`, `expire_date` and revocation), each chat's members, and the joins
//! through links, which enforce all three.

use std::collections::{HashMap, HashSet};

use serde_json::{Value, json};

use crate::params::{chat_id, telegram_bot_user};

#[derive(Debug, Default)]
pub(crate) struct Telegram {
    links_created: u64,
    messages_sent: i64,
    links: HashMap<String, LinkState>,
    members: HashMap<i64, HashSet<i64>>,
    /// The chat's owner and administrators: Telegram refuses to remove them.
    admins: HashMap<i64, HashSet<i64>>,
    /// Users banned from a chat (`kicked`): no link admits them until the ban is lifted.
    banned: HashMap<i64, HashSet<i64>>,
    /// Who joined through which link, in order.
    pub(crate) joins: Vec<Join>,
    /// Every delivered `unbanChatMember`, in order, and whether it removed a member.
    pub(crate) removals: Vec<Removal>,
    /// Join requests waiting for an admin's decision.
    pub(crate) pending_requests: Vec<PendingRequest>,
    /// Every approval or decline of a pending request, in order.
    pub(crate) decisions: Vec<JoinDecision>,
    /// Calls received before the one being acted on (a join's place among them).
    pub(crate) calls_seen: usize,
    /// The bot's own standing per chat, where a test or script set one; elsewhere the
    /// bot is an administrator with every right it needs (`getChatMember` of the bot).
    pub(crate) bot_standing: HashMap<i64, BotStanding>,
    /// Telegram Stars: invoice links, pre-checkout queries, charges (`payments.rs`).
    pub(crate) payments: crate::payments::Payments,
    /// Updates a call made Telegram send (a refund's `refunded_payment`), for the outbox.
    pub(crate) outbound: Vec<Value>,
}

/// The bot's standing in a chat, as `getChatMember` of the bot answers it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum BotStanding {
    /// An administrator, with or without the two rights the chain uses.
    Admin { invite: bool, restrict: bool },
    /// A plain member.
    Member,
    /// Not in the chat (it left, or was removed).
    Left,
}

impl BotStanding {
    /// The standing a control route names: `admin`, `no_invite`, `no_ban`, `member`,
    /// `left`.
    pub fn parse(word: &str) -> Option<Self> {
        Some(match word {
            "admin" => Self::Admin {
                invite: true,
                restrict: true,
            },
            "no_invite" => Self::Admin {
                invite: false,
                restrict: true,
            },
            "no_ban" => Self::Admin {
                invite: true,
                restrict: false,
            },
            "member" => Self::Member,
            "left" => Self::Left,
            _ => return None,
        })
    }

    fn member_json(self, bot: Value) -> Value {
        match self {
            Self::Admin { invite, restrict } => json!({
                "status": "administrator", "user": bot, "can_be_edited": false,
                "is_anonymous": false, "can_manage_chat": true, "can_change_info": false,
                "can_delete_messages": false, "can_manage_video_chats": false,
                "can_invite_users": invite, "can_restrict_members": restrict,
                "can_promote_members": false
            }),
            Self::Member => json!({"status": "member", "user": bot}),
            Self::Left => json!({"status": "left", "user": bot}),
        }
    }
}

/// A join request through a link that creates them, waiting for a decision.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PendingRequest {
    pub chat_id: i64,
    pub user_id: i64,
    pub link: String,
    /// Unix seconds.
    pub at: i64,
}

/// An admin's (the bot's) decision on a pending join request.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct JoinDecision {
    pub chat_id: i64,
    pub user_id: i64,
    pub link: String,
    pub approved: bool,
}

/// A delivered `unbanChatMember` (without `only_if_banned`): Telegram removes a current
/// member, who may rejoin; a user not in the chat is left as is.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Removal {
    pub chat_id: i64,
    pub user_id: i64,
    /// Whether the user was a member (and so was removed).
    pub was_member: bool,
    /// Whether the user was banned, and the call lifted the ban (they may join again).
    pub lifted_ban: bool,
}

/// An invite link as Telegram keeps it.
#[derive(Debug, Clone, PartialEq)]
struct LinkState {
    chat_id: i64,
    member_limit: Option<u64>,
    /// Unix seconds.
    expire_date: Option<i64>,
    revoked: bool,
    /// Members who joined through it and are still in: Telegram's `member_limit` counts
    /// members at the same time, so one who leaves frees their place.
    uses: u64,
    name: Option<String>,
    /// Joining asks an admin instead of admitting (`creates_join_request`).
    creates_join_request: bool,
}

/// A link that still admits (not revoked, not expired), as `open_links` lists it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OpenLink {
    pub url: String,
    pub chat_id: i64,
    /// The `name` it was created with.
    pub name: Option<String>,
}

/// A user who joined a chat through a link.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Join {
    pub link: String,
    pub chat_id: i64,
    pub user_id: i64,
    /// How many calls the fake had received when it happened (its place among them).
    pub after_calls: usize,
}

/// What a simulated click on an invite link did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum JoinOutcome {
    Joined,
    /// Already in the chat: the link is not used up.
    AlreadyMember,
    Revoked,
    Expired,
    /// `member_limit` people joined through it already.
    UsedUp,
    UnknownLink,
    /// The user is banned from the chat: no link admits them.
    Banned,
    /// The link creates join requests: the user waits for an admin's decision (Telegram
    /// sends the bot a `chat_join_request` update).
    Requested,
}

impl Telegram {
    /// A user clicks `link` at `now` (Unix seconds): Telegram admits them if the link is
    /// known, not revoked, not expired and not used up, and counts the use.
    pub(crate) fn join(
        &mut self,
        link: &str,
        user_id: i64,
        now: i64,
        after_calls: usize,
    ) -> JoinOutcome {
        let Some(state) = self.links.get(link).cloned() else {
            return JoinOutcome::UnknownLink;
        };
        if self.is_banned(state.chat_id, user_id) {
            return JoinOutcome::Banned;
        }
        let members = self.members.entry(state.chat_id).or_default();
        if members.contains(&user_id) {
            return JoinOutcome::AlreadyMember;
        }
        let outcome = if state.revoked {
            JoinOutcome::Revoked
        } else if state.expire_date.is_some_and(|at| at <= now) {
            JoinOutcome::Expired
        } else if state.member_limit.is_some_and(|limit| state.uses >= limit) {
            JoinOutcome::UsedUp
        } else if state.creates_join_request {
            JoinOutcome::Requested
        } else {
            JoinOutcome::Joined
        };
        if outcome == JoinOutcome::Requested {
            let pending = self
                .pending_requests
                .iter()
                .any(|r| r.chat_id == state.chat_id && r.user_id == user_id);
            if !pending {
                self.pending_requests.push(PendingRequest {
                    chat_id: state.chat_id,
                    user_id,
                    link: link.to_owned(),
                    at: now,
                });
            }
            return outcome;
        }
        if outcome == JoinOutcome::Joined {
            members.insert(user_id);
            self.links.get_mut(link).expect("known").uses += 1;
            self.joins.push(Join {
                link: link.to_owned(),
                chat_id: state.chat_id,
                user_id,
                after_calls,
            });
        }
        outcome
    }

    /// A link's chat, name and member limit, as a `chat_member` update shows them.
    pub(crate) fn link_facts(&self, link: &str) -> Option<(i64, Option<String>, Option<u64>)> {
        self.links
            .get(link)
            .map(|state| (state.chat_id, state.name.clone(), state.member_limit))
    }

    /// A member left: the link they joined through admits one more.
    fn free_place(&mut self, chat_id: i64, user_id: i64) {
        let joined_through = self
            .joins
            .iter()
            .rev()
            .find(|join| join.chat_id == chat_id && join.user_id == user_id)
            .map(|join| join.link.clone());
        if let Some(state) = joined_through.and_then(|link| self.links.get_mut(&link)) {
            state.uses = state.uses.saturating_sub(1);
        }
    }

    /// Links that still admit at `now` (Unix seconds): not revoked, not expired.
    pub(crate) fn open_links(&self, now: i64) -> Vec<OpenLink> {
        let mut open: Vec<OpenLink> = self
            .links
            .iter()
            .filter(|(_, state)| !state.revoked && state.expire_date.is_none_or(|at| at > now))
            .map(|(url, state)| OpenLink {
                url: url.clone(),
                chat_id: state.chat_id,
                name: state.name.clone(),
            })
            .collect();
        open.sort_by(|a, b| a.url.cmp(&b.url));
        open
    }

    /// The chat a link admits to, if the fake made it.
    pub(crate) fn chat_of(&self, link: &str) -> Option<i64> {
        self.links.get(link).map(|state| state.chat_id)
    }

    /// Makes `user_id` a member of `chat_id` (joined some other way).
    pub(crate) fn add_member(&mut self, chat_id: i64, user_id: i64) {
        self.members.entry(chat_id).or_default().insert(user_id);
    }

    /// Makes `user_id` an administrator of `chat_id` (and a member).
    pub(crate) fn add_admin(&mut self, chat_id: i64, user_id: i64) {
        self.admins.entry(chat_id).or_default().insert(user_id);
        self.add_member(chat_id, user_id);
    }

    /// The error Telegram answers instead of acting, if any (400 with this description).
    pub(crate) fn refusal(&self, method: &str, params: &Value) -> Option<String> {
        if let Some(refused) = self.payments.refusal(method, params) {
            return Some(refused);
        }
        let user_id = params["user_id"].as_i64()?;
        let chat = chat_id(params)?;
        if matches!(method, "approveChatJoinRequest" | "declineChatJoinRequest") {
            let pending = self
                .pending_requests
                .iter()
                .any(|r| r.chat_id == chat && r.user_id == user_id);
            return (!pending).then(|| "Bad Request: HIDE_REQUESTER_MISSING".to_owned());
        }
        let is_admin = self
            .admins
            .get(&chat)
            .is_some_and(|admins| admins.contains(&user_id));
        (method == "unbanChatMember" && is_admin)
            .then(|| "Bad Request: user is an administrator of the chat".to_owned())
    }

    /// The owner bans `user_id` by hand (Telegram's app, or `banChatMember`): out of the
    /// chat, and kept out.
    pub(crate) fn ban(&mut self, chat_id: i64, user_id: i64) {
        if self
            .members
            .get_mut(&chat_id)
            .is_some_and(|members| members.remove(&user_id))
        {
            self.free_place(chat_id, user_id);
        }
        self.banned.entry(chat_id).or_default().insert(user_id);
    }

    pub(crate) fn is_banned(&self, chat_id: i64, user_id: i64) -> bool {
        self.banned
            .get(&chat_id)
            .is_some_and(|banned| banned.contains(&user_id))
    }

    pub(crate) fn is_member(&self, chat_id: i64, user_id: i64) -> bool {
        self.members
            .get(&chat_id)
            .is_some_and(|members| members.contains(&user_id))
    }

    /// What Telegram does for a delivered call; `None` for an unknown method.
    pub(crate) fn act(&mut self, method: &str, params: &Value) -> Option<Value> {
        let link = |url: String, revoked: bool| {
            json!({
                "invite_link": url,
                "creator": telegram_bot_user(),
                "creates_join_request": params["creates_join_request"].as_bool().unwrap_or(false),
                "is_primary": false,
                "is_revoked": revoked,
                "name": params.get("name"),
                "expire_date": params.get("expire_date"),
                "member_limit": params.get("member_limit"),
            })
        };
        match method {
            // The bot, with the flags `getMe` adds to a User.
            "getMe" => {
                let mut me = telegram_bot_user();
                for flag in [
                    "can_join_groups",
                    "can_read_all_group_messages",
                    "supports_inline_queries",
                    "can_connect_to_business",
                    "has_main_web_app",
                ] {
                    me[flag] = json!(flag == "can_join_groups");
                }
                Some(me)
            }
            "createChatInviteLink" => {
                self.links_created += 1;
                let url = format!("https://t.me/+fake{:06}", self.links_created);
                let state = LinkState {
                    chat_id: chat_id(params)?,
                    member_limit: params["member_limit"].as_u64(),
                    expire_date: params["expire_date"].as_i64(),
                    revoked: false,
                    uses: 0,
                    name: params["name"].as_str().map(str::to_owned),
                    creates_join_request: params["creates_join_request"].as_bool().unwrap_or(false),
                };
                self.links.insert(url.clone(), state);
                Some(link(url, false))
            }
            "revokeChatInviteLink" => {
                let url = params["invite_link"]
                    .as_str()
                    .unwrap_or_default()
                    .to_owned();
                if let Some(state) = self.links.get_mut(&url) {
                    state.revoked = true;
                }
                Some(link(url, true))
            }
            "getChatMember" => {
                let user_id = params["user_id"].as_i64()?;
                let chat = chat_id(params);
                let bot = telegram_bot_user();
                if Some(user_id) == bot["id"].as_i64() {
                    let standing = chat
                        .and_then(|chat| self.bot_standing.get(&chat).copied())
                        .unwrap_or(BotStanding::Admin {
                            invite: true,
                            restrict: true,
                        });
                    return Some(standing.member_json(bot));
                }
                let member = chat.is_some_and(|chat| self.is_member(chat, user_id));
                let banned = chat.is_some_and(|chat| self.is_banned(chat, user_id));
                let user = json!({"id": user_id, "is_bot": false, "first_name": "Buyer"});
                Some(match (member, banned) {
                    // ChatMemberBanned: `until_date` 0 is forever.
                    (_, true) => json!({"status": "kicked", "user": user, "until_date": 0}),
                    (true, false) => json!({"status": "member", "user": user}),
                    (false, false) => json!({"status": "left", "user": user}),
                })
            }
            "unbanChatMember" => {
                let user_id = params["user_id"].as_i64()?;
                let chat = chat_id(params)?;
                let only_if_banned = params["only_if_banned"].as_bool().unwrap_or(false);
                // Either way a ban is lifted; without only_if_banned a member is removed too.
                let lifted_ban = self
                    .banned
                    .get_mut(&chat)
                    .is_some_and(|banned| banned.remove(&user_id));
                let was_member = !only_if_banned
                    && self
                        .members
                        .get_mut(&chat)
                        .is_some_and(|members| members.remove(&user_id));
                if was_member {
                    self.free_place(chat, user_id);
                }
                self.removals.push(Removal {
                    chat_id: chat,
                    user_id,
                    was_member,
                    lifted_ban,
                });
                Some(json!(true))
            }
            "sendMessage" => {
                self.messages_sent += 1;
                let mut message = json!({
                    "message_id": self.messages_sent,
                    "date": 1_774_390_832,
                    "chat": {"id": chat_id(params), "type": "private", "first_name": "Buyer"},
                    "from": telegram_bot_user(),
                    "text": params["text"],
                });
                if params.get("reply_markup").is_some() {
                    message["reply_markup"] = params["reply_markup"].clone();
                }
                Some(message)
            }
            "approveChatJoinRequest" | "declineChatJoinRequest" => {
                let user_id = params["user_id"].as_i64()?;
                let chat = chat_id(params)?;
                let at = self
                    .pending_requests
                    .iter()
                    .position(|r| r.chat_id == chat && r.user_id == user_id)?;
                let request = self.pending_requests.remove(at);
                let approved = method == "approveChatJoinRequest";
                if approved && self.members.entry(chat).or_default().insert(user_id) {
                    if let Some(state) = self.links.get_mut(&request.link) {
                        state.uses += 1;
                    }
                    self.joins.push(Join {
                        link: request.link.clone(),
                        chat_id: chat,
                        user_id,
                        after_calls: self.calls_seen,
                    });
                }
                self.decisions.push(JoinDecision {
                    chat_id: chat,
                    user_id,
                    link: request.link,
                    approved,
                });
                Some(json!(true))
            }
            "answerCallbackQuery" => Some(json!(true)),
            _ => {
                let (result, updates) = self.payments.act(method, params)?;
                self.outbound.extend(updates);
                Some(result)
            }
        }
    }
}
