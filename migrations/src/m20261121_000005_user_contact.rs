use sea_orm_migration::prelude::*;

#[derive(DeriveMigrationName)]
pub struct Migration;

#[derive(DeriveIden)]
enum Users {
    Table,
    PhoneNumber,
    Address,
}

/// OpenID Core §5.4: the `phone` and `address` scopes release
/// `phone_number` and `address`; users can now carry them.
#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, m: &SchemaManager) -> Result<(), DbErr> {
        // SQLite can add only one column per ALTER TABLE.
        for mut col in [
            ColumnDef::new(Users::PhoneNumber).text().null().to_owned(),
            ColumnDef::new(Users::Address).text().null().to_owned(),
        ] {
            m.alter_table(
                Table::alter()
                    .table(Users::Table)
                    .add_column(&mut col)
                    .to_owned(),
            )
            .await?;
        }
        Ok(())
    }

    async fn down(&self, m: &SchemaManager) -> Result<(), DbErr> {
        for col in [Users::PhoneNumber, Users::Address] {
            m.alter_table(
                Table::alter()
                    .table(Users::Table)
                    .drop_column(col)
                    .to_owned(),
            )
            .await?;
        }
        Ok(())
    }
}
