//! Shared Signals subjects (SSF 1.0 §8.1.3): a stream's deviations from the
//! transmitter's `default_subjects`. `subject_key` is the normalised subject
//! (`user:<sub>` for `iss_sub`/`email`, `id:<id>` for `opaque`);
//! `included` says whether the receiver added (true) or removed (false) it.
//! Rows equal to the default are not kept.

use sea_orm_migration::prelude::*;

#[derive(DeriveMigrationName)]
pub struct Migration;

#[derive(DeriveIden)]
enum SsfSubjects {
    Table,
    Id,
    StreamId,
    SubjectKey,
    Included,
    CreatedAt,
}

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, m: &SchemaManager) -> Result<(), DbErr> {
        m.create_table(
            Table::create()
                .table(SsfSubjects::Table)
                .col(
                    ColumnDef::new(SsfSubjects::Id)
                        .big_integer()
                        .not_null()
                        .auto_increment()
                        .primary_key(),
                )
                .col(ColumnDef::new(SsfSubjects::StreamId).string().not_null())
                .col(ColumnDef::new(SsfSubjects::SubjectKey).string().not_null())
                .col(ColumnDef::new(SsfSubjects::Included).boolean().not_null())
                .col(
                    ColumnDef::new(SsfSubjects::CreatedAt)
                        .big_integer()
                        .not_null(),
                )
                .to_owned(),
        )
        .await?;
        m.create_index(
            Index::create()
                .name("ssf_subjects_stream_key")
                .table(SsfSubjects::Table)
                .col(SsfSubjects::StreamId)
                .col(SsfSubjects::SubjectKey)
                .unique()
                .to_owned(),
        )
        .await
    }

    async fn down(&self, m: &SchemaManager) -> Result<(), DbErr> {
        m.drop_table(Table::drop().table(SsfSubjects::Table).to_owned())
            .await
    }
}
