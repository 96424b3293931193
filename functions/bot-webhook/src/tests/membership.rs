//! The bot's own membership: the owner is told when the bot loses its rights.

use super::*;

#[tokio::test]
async fn the_owner_is_told_plainly_when_the_bot_loses_its_rights() {
    let rig = rig().await;
    let demoted = json!({"update_id": 160, "my_chat_member": {
        "chat": {"id": CLUB_PRIVATE, "type": "channel", "title": "Club"},
        "from": {"id": 900002, "is_bot": false, "first_name": "Owner"}, "date": 1,
        "old_chat_member": {"user": {"id": 1, "is_bot": true, "first_name": "Bot"}, "status": "administrator"},
        "new_chat_member": {"user": {"id": 1, "is_bot": true, "first_name": "Bot"}, "status": "member"}}});
    assert_eq!(call(&rig, &demoted).await.1, "handled");
    let told = texts_to(&rig, 900002);
    assert_eq!(told.len(), 1);
    assert!(told[0].contains("can no longer manage Club"), "{}", told[0]);
    assert!(told[0].contains("not enough rights"));
    // Made an admin with the rights it needs again: nothing to say.
    let mut promoted = demoted.clone();
    promoted["update_id"] = json!(161);
    promoted["my_chat_member"]["new_chat_member"] = json!({"user": {"id": 1, "is_bot": true, "first_name": "Bot"},
        "status": "administrator", "can_invite_users": true, "can_restrict_members": true});
    call(&rig, &promoted).await;
    // A channel without an owner chat: logged only.
    let mut elsewhere = demoted.clone();
    elsewhere["update_id"] = json!(162);
    elsewhere["my_chat_member"]["chat"]["id"] = json!(SIGNALS_PRIVATE);
    call(&rig, &elsewhere).await;
    assert_eq!(texts_to(&rig, 900002).len(), 1);
    assert_eq!(rig.telegram.delivered("sendMessage").len(), 1);
}
