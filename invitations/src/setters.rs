//! The shape every builder method that sets one thing shares.

/// Builder methods that each set one field and return the builder. Each entry is the
/// method's doc comment, `fn name(argument: Type) => field = value;` (or `fn name() => …`
/// for a switch).
macro_rules! setters {
    ($(
        $(#[$attr:meta])*
        fn $name:ident($($arg:ident: $ty:ty)?) => $field:ident = $value:expr;
    )*) => {$(
        $(#[$attr])*
        pub fn $name(mut self, $($arg: $ty)?) -> Self {
            self.$field = $value;
            self
        }
    )*};
}
pub(crate) use setters;
