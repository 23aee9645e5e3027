-- Where each police beat is: the median location of its crashes (for the map's markers).
select
    beat_of_occurrence,
    median(latitude) as latitude,
    median(longitude) as longitude
from marts.fct_crashes
where beat_of_occurrence is not null and latitude is not null
group by 1
