-- Identity columns (e-mail, name, phone) stay out of analytics on purpose.
with users as (
    select * from {{ source('auralink', 'users') }}
),

final as (
    select
        id                    as user_id,
        is_active,
        country,
        created_at,
        last_login_at,
        erased_at is not null as is_erased
    from users
)

select * from final
