mod browser_support;
mod common;

use browser_support::*;
use common::*;

#[tokio::test]
async fn smoke() {
    let Some(tools) = tools("smoke") else { return };
    let mut front = TlsFront::bind().await;
    let issuer = front.issuer();
    let server = TestServer::with(move |c| c.issuer = issuer).await;
    front.forward_to(server.base.trim_start_matches("http://").to_owned());
    let spki = front.spki.clone();
    let url = auth_url(&server, FIRST, FIRST_REDIRECT, "openid", CHALLENGE).replace(&server.base, server.state.config.issuer_str());
    with_browser(&tools, Options { trust_spki: Some(spki), no_javascript: true, ..Options::default() }, move |c| async move {
        c.goto(&url).await.unwrap();
        let at = wait_for_path(&c, "/login").await;
        eprintln!("at {at} focused={}", focused_id(&c).await);
        fill(&c, "#username", ALICE).await;
        fill(&c, "#password", ALICE_PASSWORD).await;
        click(&c, "button[type=submit]").await;
        tokio::time::sleep(std::time::Duration::from_secs(1)).await;
        eprintln!("now {}", c.current_url().await.unwrap());
        for ck in c.get_all_cookies().await.unwrap() { eprintln!("cookie {ck:?}"); }
        screenshot(&c, "smoke").await;
    }).await;
}
