#[test]
fn stub() {
    let _ = eventstore::testing::database_url();
}
