//! The built-in default schema: the entity types and fields studio plugins usually touch.

use std::collections::BTreeMap;

use serde_json::Value;

use super::{DataType, EntityDef, FieldDef, Schema, field_json, pick_name_field};

/// One type per block. `=Type Display Name|flags` starts a block (flag `p`: project-scoped);
/// each further line is `field|data_type|Display Name|valid values or types (comma list)|default`.
const TABLE: &str = r"
=Project Project|
name|text|Project Name||
sg_status|list|Status|Active,Bidding,Demo,Lost,Archive|Active
sg_type|list|Type|Feature,Episodic,Commercial,Game,Test|
sg_description|text|Description||
start_date|date|Start Date||
end_date|date|End Date||
archived|checkbox|Archived||
is_template|checkbox|Template||
tank_name|text|Tank Name||
users|multi_entity|Users|HumanUser|
=HumanUser Person|
name|text|Name||
firstname|text|First Name||
lastname|text|Last Name||
login|text|Login||
email|text|Email||
sg_status_list|status_list|Status|act,dis|act
department|entity|Department|Department|
groups|multi_entity|Groups|Group|
projects|multi_entity|Projects|Project|
password_proxy|password|Password||
=ApiUser Script|
firstname|text|Script Name||
lastname|text|Version||1.0
description|text|Description||
email|text|Maintainer||
salted_password|text|Application Key||
generate_event_log_entries|checkbox|Generate Events||
=Group Group|
code|text|Group Name||
users|multi_entity|Users|HumanUser|
=Department Department|
name|text|Department Name||
code|text|Short Name||
color|color|Color||
users|multi_entity|People|HumanUser|
=Step Pipeline Step|
code|text|Step Name||
short_name|text|Short Name||
description|text|Description||
entity_type|entity_type|Entity Type||
color|color|Color||
list_order|number|Order||
=Sequence Sequence|p
code|text|Sequence Name||
description|text|Description||
sg_status_list|status_list|Status|wtg,rdy,ip,fin,hld,omt|wtg
shots|multi_entity|Shots|Shot|
assets|multi_entity|Assets|Asset|
=Shot Shot|p
code|text|Shot Code||
description|text|Description||
sg_status_list|status_list|Status|wtg,rdy,ip,cmpt,fin,hld,omt|wtg
sg_sequence|entity|Sequence|Sequence|
sg_shot_type|list|Type|Bg Only,CG,Comp,Matte Painting,Roto,VFX|
sg_cut_in|number|Cut In||
sg_cut_out|number|Cut Out||
sg_cut_duration|number|Cut Duration||
sg_head_in|number|Head In||
sg_tail_out|number|Tail Out||
sg_frame_rate|float|Frame Rate||
sg_timecode_in|timecode|Timecode In||
sg_timecode_out|timecode|Timecode Out||
sg_due_date|date|Due Date||
sg_working_duration|duration|Working Duration||
sg_completion|percent|Completion||
sg_vfx|checkbox|VFX||
sg_metadata|serializable|Metadata||
assets|multi_entity|Assets|Asset|
tasks|multi_entity|Tasks|Task|
=Asset Asset|p
code|text|Asset Name||
description|text|Description||
sg_status_list|status_list|Status|wtg,rdy,ip,cmpt,fin,hld,omt|wtg
sg_asset_type|list|Type|Character,Environment,Prop,Vehicle,FX,Matte Painting|
shots|multi_entity|Shots|Shot|
sequences|multi_entity|Sequences|Sequence|
parents|multi_entity|Parent Assets|Asset|
tasks|multi_entity|Tasks|Task|
=Task Task|p
content|text|Task Name||
entity|entity|Link|Asset,Sequence,Shot,Project,CustomEntity01,CustomEntity02,CustomEntity03|
step|entity|Pipeline Step|Step|
sg_status_list|status_list|Status|wtg,rdy,ip,rev,fin,hld,omt|wtg
sg_priority|list|Priority|1,2,3,4|
task_assignees|multi_entity|Assigned To|HumanUser,Group|
task_template|entity|Task Template|TaskTemplate|
start_date|date|Start Date||
due_date|date|Due Date||
duration|duration|Duration||
est_in_mins|duration|Bid||
time_logs_sum|duration|Time Logged||
time_percent_of_est|percent|Time Logged - % of Bid||
milestone|checkbox|Milestone||
color|color|Gantt Bar Color||
sg_description|text|Description||
upstream_tasks|multi_entity|Upstream Dependency|Task|
downstream_tasks|multi_entity|Downstream Dependency|Task|
=TaskTemplate Task Template|
code|text|Template Name||
description|text|Description||
entity_type|entity_type|Entity Type||
=Version Version|p
code|text|Version Name||
description|text|Description||
entity|entity|Link|Asset,Sequence,Shot,CustomEntity01|
sg_task|entity|Task|Task|
user|entity|Artist|HumanUser,ApiUser|
sg_status_list|status_list|Status|na,rev,vwd,apr,rej|rev
sg_version_type|list|Type|Daily,Client,Internal|
sg_path_to_movie|text|Path to Movie||
sg_path_to_frames|text|Path to Frames||
sg_first_frame|number|First Frame||
sg_last_frame|number|Last Frame||
frame_count|number|Frame Count||
frame_range|text|Frame Range||
sg_uploaded_movie|url|Uploaded Movie||
playlists|multi_entity|Playlists|Playlist|
published_files|multi_entity|Published Files|PublishedFile|
=PublishedFile Published File|p
code|text|Published File Name||
name|text|Name||
description|text|Description||
entity|entity|Link|Asset,Sequence,Shot,CustomEntity01|
task|entity|Task|Task|
version|entity|Version|Version|
published_file_type|entity|Published File Type|PublishedFileType|
sg_status_list|status_list|Status|wtg,ip,cmpt|
path|url|Path||
path_cache|text|Path Cache||
version_number|number|Version Number||
=PublishedFileType Published File Type|
code|text|Published File Type||
short_name|text|Short Name||
description|text|Description||
=Note Note|p
subject|text|Subject||
content|text|Body||
user|entity|Author|HumanUser,ApiUser|
sg_note_type|list|Type|Client,Internal,Art,Dev|
sg_status_list|status_list|Status|opn,ip,clsd|opn
note_links|multi_entity|Links|Asset,Sequence,Shot,Version,Playlist,CustomEntity01|
tasks|multi_entity|Tasks|Task|
addressings_to|multi_entity|To|HumanUser,Group|
addressings_cc|multi_entity|Cc|HumanUser,Group|
replies|multi_entity|Replies|Reply|
=Reply Reply|
content|text|Body||
entity|entity|Link|Note|
user|entity|Author|HumanUser,ApiUser|
=Playlist Playlist|p
code|text|Playlist Name||
description|text|Description||
versions|multi_entity|Versions|Version|
locked|checkbox|Locked||
sg_date_and_time|date_time|Date and Time||
=TimeLog Time Log|p
entity|entity|Link|Task|
user|entity|Person|HumanUser|
date|date|Date||
duration|duration|Duration||
description|text|Description||
=Cut Cut|p
code|text|Cut Name||
description|text|Description||
entity|entity|Link|Sequence,Shot,Project|
fps|float|FPS||
revision_number|number|Revision Number||
timecode_start_text|text|Timecode Start||
timecode_end_text|text|Timecode End||
duration|number|Duration||
cut_items|multi_entity|Cut Items|CutItem|
=CutItem Cut Item|p
code|text|Cut Item Name||
cut|entity|Cut|Cut|
shot|entity|Shot|Shot|
version|entity|Version|Version|
cut_order|number|Cut Order||
cut_item_in|number|Cut Item In||
cut_item_out|number|Cut Item Out||
cut_item_duration|number|Cut Item Duration||
edit_in|number|Edit In||
edit_out|number|Edit Out||
timecode_cut_item_in_text|text|Timecode Cut Item In||
=CustomEntity01 Element|p
code|text|Element Name||
description|text|Description||
sg_status_list|status_list|Status|wtg,ip,fin|wtg
=CustomEntity02 Slate|p
code|text|Slate Name||
description|text|Description||
sg_status_list|status_list|Status|wtg,ip,fin|wtg
=CustomEntity03 Review Item|p
code|text|Review Item Name||
description|text|Description||
sg_status_list|status_list|Status|wtg,ip,fin|wtg
=CustomNonProjectEntity01 Vendor|
code|text|Vendor Name||
description|text|Description||
=EventLogEntry Event Log Entry|p
event_type|text|Event Type||
attribute_name|text|Attribute Name||
meta|serializable|Meta Data||
entity|entity|Link|||
user|entity|Who|HumanUser,ApiUser|
session_uuid|uuid|Session UUID||
description|text|Event Summary||
";

/// Fields every type has (EventLogEntry has only `id`, `created_at` and `image` of these).
const COMMON: &str = r"
id|number|Id||
created_at|date_time|Date Created||
updated_at|date_time|Date Updated||
created_by|entity|Created by|HumanUser,ApiUser|
updated_by|entity|Updated by|HumanUser,ApiUser|
image|image|Thumbnail||
tag_list|tag_list|Tags||
cached_display_name|text|Cached Display Name||
";

const READ_ONLY: &[&str] = &[
    "id",
    "created_at",
    "updated_at",
    "created_by",
    "updated_by",
    "cached_display_name",
];

pub(super) fn schema() -> Schema {
    let mut types: BTreeMap<String, EntityDef> = BTreeMap::new();
    let mut current: Option<EntityDef> = None;
    let mut project_scoped = false;
    for line in TABLE.lines().map(str::trim).filter(|l| !l.is_empty()) {
        if let Some(header) = line.strip_prefix('=') {
            if let Some(def) = current.take() {
                types.insert(def.name.clone(), finish(def, project_scoped));
            }
            let (head, flags) = header.split_once('|').unwrap_or((header, ""));
            let (name, display) = head.split_once(' ').unwrap_or((head, head));
            project_scoped = flags.contains('p');
            current = Some(EntityDef {
                name: name.to_owned(),
                display: display.to_owned(),
                fields: BTreeMap::new(),
                name_field: None,
            });
        } else if let Some(def) = current.as_mut() {
            add_field(def, line);
        }
    }
    if let Some(def) = current.take() {
        types.insert(def.name.clone(), finish(def, project_scoped));
    }
    Schema { types }
}

fn finish(mut def: EntityDef, project_scoped: bool) -> EntityDef {
    let is_events = def.name == "EventLogEntry";
    for line in COMMON.lines().map(str::trim).filter(|l| !l.is_empty()) {
        let name = line.split('|').next().unwrap_or_default();
        if is_events && !matches!(name, "id" | "created_at" | "image") {
            continue;
        }
        add_field(&mut def, line);
    }
    if project_scoped {
        add_field(&mut def, "project|entity|Project|Project|");
    }
    def.name_field = pick_name_field(&def.name, &def.fields);
    def
}

fn add_field(def: &mut EntityDef, line: &str) {
    let mut parts = line.split('|');
    let name = parts.next().unwrap_or_default().to_owned();
    let data_type = DataType::parse(parts.next().unwrap_or("text"));
    let display = parts.next().unwrap_or(&name).to_owned();
    let valid: Vec<String> = parts
        .next()
        .unwrap_or_default()
        .split(',')
        .filter(|s| !s.is_empty())
        .map(str::to_owned)
        .collect();
    let default = match (parts.next().unwrap_or_default(), &data_type) {
        ("", DataType::Checkbox) => Value::Bool(false),
        ("", _) => Value::Null,
        (text, _) => Value::String(text.to_owned()),
    };
    let editable = !READ_ONLY.contains(&name.as_str()) && def.name != "EventLogEntry";
    let raw = field_json(&def.name, &display, &data_type, &valid, &default, editable);
    let (valid_values, valid_types) = match data_type {
        DataType::Entity | DataType::MultiEntity => (Vec::new(), valid),
        _ => (valid, Vec::new()),
    };
    def.fields.insert(
        name.clone(),
        FieldDef {
            name,
            display,
            data_type,
            valid_values,
            valid_types,
            default,
            editable,
            raw,
        },
    );
}
