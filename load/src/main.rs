fn main() {
    let _ = goose::GooseAttack::initialize_with_config;
}
